"""FID and KID with clean-fid: its Inception network, its resizing, its `frechet_distance` and `kernel_distance`.

Nothing here re-implements the metric. What this module adds:
- the weights come from a project file (`resources/inception-2015-12-05.pt`), never from a download at score time:
  `load_inception` constructs clean-fid's own `InceptionV3W(folder, download=False, resize_inside=...)`, which is
  exactly what `cleanfid.features.build_feature_extractor(mode, ...)` builds, minus its hard-coded download into
  /tmp and minus DataParallel; `fetch_inception` is the one place that downloads (clean-fid's URL constant);
- in-memory uint8 arrays go through clean-fid's `ResizeDataset` steps (image transform, `build_resizer(mode)`,
  ToTensor) and `get_batch_features`, with batch size, workers and device given explicitly;
- grayscale images are repeated to 3 channels (clean-fid converts every image to RGB before resizing);
- KID is seeded: clean-fid draws its subsets from numpy's global RNG, which is seeded and restored around the call.
"""
from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gan import atomic
from gan.metrics import Output, ScoreContext, register_extractor, register_metric, sha256_file

if TYPE_CHECKING:  # torch is imported where features are extracted: the registrations import without it
    import torch

INCEPTION_FILENAME = "inception-2015-12-05.pt"  # the name clean-fid's InceptionV3W loads from its folder
# sha256 of the file at clean-fid's URL (NVIDIA's StyleGAN2-ADA TorchScript), as crowsonkb/k-diffusion pins it for the
# same URL (k_diffusion/evaluation.py): a download that differs is never placed
INCEPTION_SHA256 = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"
DEFAULT_INCEPTION_PATH = Path("resources") / INCEPTION_FILENAME


def inception_url() -> str:
    from cleanfid.downloads_helper import inception_url as url

    return url


class InceptionWeightsMissing(FileNotFoundError):
    """The Inception TorchScript file is not where the score job expects it (score jobs never download)."""


def fetch_inception(dest: str | Path = DEFAULT_INCEPTION_PATH, timeout: float = 120.0) -> Path:
    """Download clean-fid's `inception-2015-12-05.pt` once to `dest` (atomically; checked against the pinned sha256
    and to load) and return it.

    An existing file is kept as it is. This is the only function that touches the network.
    """
    dest = Path(dest)
    if dest.name != INCEPTION_FILENAME:
        raise ValueError(f"clean-fid loads the weights by their file name: dest must end in {INCEPTION_FILENAME}")
    if dest.exists():
        return dest
    url = inception_url()
    with atomic.atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except OSError as err:
            raise RuntimeError(f"could not download {url} ({err}); on a machine with network access download it "
                               f"and place it at {dest}") from err
        digest = sha256_file(tmp)
        if digest != INCEPTION_SHA256:
            raise RuntimeError(f"{url} sent a file with sha256 {digest}, not the pinned {INCEPTION_SHA256}: nothing "
                               f"placed at {dest}")
        _check_torchscript(tmp)
    return dest


def _check_torchscript(path: Path) -> None:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # a truncated or foreign file never lands in place
        raise RuntimeError(f"{path} is not a TorchScript Inception file ({err})") from err
    if not hasattr(module, "layers"):
        raise RuntimeError(f"{path} has no `layers` submodule: not clean-fid's Inception TorchScript file")


def check_inception_weights(weights_path: str | Path | None) -> Path:
    path = Path(weights_path) if weights_path is not None else DEFAULT_INCEPTION_PATH
    if not path.is_file():
        raise InceptionWeightsMissing(
            f"Inception weights not found at {path}. Score jobs never download: fetch them once with "
            f"`python -m gan fetch-inception --dest {path}` (Snakemake rule fetch_inception) on a machine with "
            f"network access, or download {inception_url()} by hand and place it at {path}.")
    if path.name != INCEPTION_FILENAME:
        raise ValueError(f"{path}: clean-fid's InceptionV3W loads `{INCEPTION_FILENAME}` from a folder; "
                         f"rename the file to {path.with_name(INCEPTION_FILENAME)}")
    return path


# clean-fid's build_feature_extractor: "clean" resizes outside the network (PIL bicubic to 299), "legacy_tensorflow"
# lets the TorchScript network resize inside (tests check this mapping against clean-fid's own function)
RESIZE_INSIDE = {"clean": False, "legacy_tensorflow": True}


def load_inception(weights_path: str | Path | None, mode: str = "clean",
                   device: torch.device | str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """clean-fid's feature function for `mode`, loaded from a local file: x in [0, 255] (N, 3, H, W) -> (N, 2048)."""
    from cleanfid.inception_torchscript import InceptionV3W

    if mode not in RESIZE_INSIDE:
        raise ValueError(f"Inception mode {mode!r} not supported; valid: {', '.join(RESIZE_INSIDE)} "
                         "(legacy_pytorch needs another network that clean-fid downloads)")
    path = check_inception_weights(weights_path)
    model = InceptionV3W(str(path.parent), download=False, resize_inside=RESIZE_INSIDE[mode]).to(device)
    model.eval()

    def model_fn(x: torch.Tensor) -> torch.Tensor:  # as in cleanfid.features.feature_extractor, no DataParallel
        return model(x)
    return model_fn


# ------------------------------------------------------------------------------------------------ features

def gray_to_rgb(img: np.ndarray) -> np.ndarray:
    """HWC uint8 with 1 channel -> 3 channels (what PIL's convert('RGB') does in clean-fid's ResizeDataset)."""
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def to_float32(img: np.ndarray) -> np.ndarray:
    """The identity resize of feature spaces that work at native resolution (values stay in [0, 255])."""
    return img.astype(np.float32)


def _array_dataset(images: np.ndarray, mode: str, fn_resize: Callable | None, image_transform: Callable | None):
    from cleanfid.resize import build_resizer
    from cleanfid.utils import ResizeDataset

    class ArrayResizeDataset(ResizeDataset):
        """clean-fid's ResizeDataset, reading uint8 (N, C, H, W) arrays in memory instead of image files.

        (Defined here so that importing gan.metrics does not import clean-fid; DataLoader workers are forked.)
        """

        def __init__(self):
            # "legacy_tensorflow" builds clean-fid's identity resizer, replaced by fn_resize below (feature spaces
            # other than Inception have modes that build_resizer does not know)
            super().__init__(files=range(len(images)), mode="legacy_tensorflow")
            self.fn_resize = fn_resize if fn_resize is not None else build_resizer(mode)
            if image_transform is not None:
                self.custom_image_tranform = image_transform

        def __getitem__(self, i):
            img_np = np.ascontiguousarray(images[i].transpose(1, 2, 0))  # HWC uint8, as clean-fid reads files
            img_np = self.custom_image_tranform(img_np)
            img_resized = self.fn_resize(img_np)
            # the same conversion as ResizeDataset.__getitem__: uint8 -> [0, 255] floats; float32 kept as is
            if img_resized.dtype == "uint8":
                return self.transforms(np.array(img_resized)) * 255
            return self.transforms(img_resized.astype(np.float32, copy=False))

    return ArrayResizeDataset()


def extract_features(images: np.ndarray, model_fn: Callable, mode: str, device: torch.device, batch_size: int = 64,
                     num_workers: int = 0, fn_resize: Callable | None = None,
                     image_transform: Callable | None = None) -> np.ndarray:
    """Features of uint8 images (N, C, H, W) through clean-fid's preprocessing and `get_batch_features`."""
    from cleanfid.fid import get_batch_features

    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} {images.shape}")
    import torch

    loader = torch.utils.data.DataLoader(_array_dataset(images, mode, fn_resize, image_transform),
                                         batch_size=batch_size, shuffle=False, drop_last=False,
                                         num_workers=num_workers)
    return np.concatenate([get_batch_features(batch, model_fn, device) for batch in loader])


def feature_stats(feats: np.ndarray) -> dict[str, np.ndarray]:
    """mean and covariance as clean-fid computes them (np.mean, np.cov(rowvar=False)), the features for KID, and
    the covariance's symmetric square root, computed once here so every Fréchet distance to it skips it."""
    sigma = np.cov(feats, rowvar=False)
    return {"feats": feats.astype(np.float32), "mu": np.mean(feats, axis=0), "sigma": sigma,
            "sigma_sqrt": sqrt_psd(sigma)}


def sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (float64 eigh; tiny negative eigenvalues,
    rounding noise of a singular covariance, are clipped to 0)."""
    w, v = np.linalg.eigh(np.asarray(sigma, dtype=np.float64))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     sqrt_sigma2: np.ndarray | None = None) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), exactly, without scipy's sqrtm.

    Tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of A S1 A) with A = S2^(1/2): S1 S2 is similar to A S1 A, which
    is symmetric positive semi-definite, so a symmetric eigen-solver applies and no imaginary part or negative
    eigenvalue arises (a general eigen-solver on S1 S2 gives both). A = `sqrt_sigma2` when the reference file
    has it. Equal to clean-fid's `frechet_distance` (tests/test_fd.py); never negative.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    a = sqrt_psd(s2) if sqrt_sigma2 is None else np.asarray(sqrt_sigma2, dtype=np.float64)
    m = a @ s1 @ a
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean), 0.0)


def frechet_from_features(feats: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray,
                          sqrt_sigma_ref: np.ndarray | None = None) -> float:
    """Fréchet distance of generated features to reference statistics (:func:`frechet_distance`)."""
    if len(feats) < 2:
        raise ValueError("a Fréchet distance needs at least 2 samples")
    return frechet_distance(np.mean(feats, axis=0), np.cov(feats, rowvar=False), mu_ref, sigma_ref, sqrt_sigma_ref)


def kid_seeded(ref_feats: np.ndarray, gen_feats: np.ndarray, seed: int, num_subsets: int = 100,
               max_subset_size: int = 1000) -> float:
    """clean-fid's `kernel_distance(ref, gen)` with its subsets drawn from numpy's global RNG seeded with `seed`.

    The global state is restored afterwards, so nothing else in the process sees a changed RNG.
    """
    from cleanfid.fid import kernel_distance

    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        return float(kernel_distance(ref_feats, gen_feats, num_subsets=num_subsets, max_subset_size=max_subset_size))
    finally:
        np.random.set_state(state)


# ------------------------------------------------------------------------------------------------ extractor

@register_extractor("inception")
class InceptionExtractor:
    """clean-fid's Inception pool features (2048-d), modes `clean` (default) and `legacy_tensorflow`."""
    kind = "images"
    modes = ("clean", "legacy_tensorflow")
    default_n_real = None

    def __init__(self, mode: str = "clean", weights_path=None, device: str = "auto", batch_size: int = 64,
                 num_workers: int = 0):
        from cleanfid.resize import build_resizer
        from gan.utils import select_device

        self.mode = mode
        self.weights_path = check_inception_weights(weights_path)
        self.device = select_device(device)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.model_fn = load_inception(self.weights_path, mode, self.device)
        self.fn_resize = build_resizer(mode)

    def features(self, images: np.ndarray) -> tuple[np.ndarray, dict]:
        feats = extract_features(images, self.model_fn, self.mode, self.device, self.batch_size, self.num_workers,
                                 fn_resize=self.fn_resize, image_transform=gray_to_rgb)
        return feats, {}

    def reference_arrays(self, feats: np.ndarray) -> dict[str, np.ndarray]:
        return feature_stats(feats)

    def describe(self) -> dict:
        return {"weights_path": str(self.weights_path), "weights_sha256": sha256_file(self.weights_path),
                "device": str(self.device)}


@register_metric("fid", extractors="inception",
                 outputs={"fid": Output("FID", False, floor=True, rank=0)})
def fid(ctx: ScoreContext) -> dict[str, float]:
    """FID (clean-fid) of the generated samples against the reference's mu/sigma."""
    return {"fid": frechet_from_features(ctx.features, ctx.reference["mu"], ctx.reference["sigma"],
                                         ctx.reference.arrays.get("sigma_sqrt"))}


@register_metric("kid", extractors="inception",
                 outputs={"kid": Output("KID", False, floor=True, rank=2)})
def kid(ctx: ScoreContext) -> dict[str, float]:
    """KID (clean-fid, 100 subsets of min(n_gen, n_real, 1000)), seeded with the score seed."""
    return {"kid": kid_seeded(ctx.reference["feats"], ctx.features, ctx.seed)}
