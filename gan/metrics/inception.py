"""The Inception feature space of clean-fid: its network, its resizing modes, its weights file.

Nothing here re-implements clean-fid. What this module adds:
- the weights come from a project file (`scoring.inception_weights`), never from a download at score time:
  `load_inception` constructs clean-fid's own `InceptionV3W(folder, download=False, resize_inside=...)`, which is
  exactly what `cleanfid.features.build_feature_extractor(mode, ...)` builds, minus its hard-coded download into
  /tmp and minus DataParallel; the DAG's `fetch_inception` rule downloads the file once (gan.metrics.weights);
- images go through clean-fid's preprocessing (gan.metrics.image_features); grayscale images are repeated to
  3 channels (clean-fid converts every image to RGB before resizing);
- two features from one forward pass: `pool` (2048-d, what FID and KID read) and `logits` (1008-d, the network's
  output layer without its bias, `pool @ output.weight.T`: what the TorchScript computes with no_output_bias).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gan.metrics.reference import sha256_file
from gan.metrics.registry import Download, Extractor, Feature, register_extractor

if TYPE_CHECKING:  # torch is imported where features are extracted: the registration imports without it
    import torch

INCEPTION_FILENAME = "inception-2015-12-05.pt"  # the name clean-fid's InceptionV3W loads from its folder

# clean-fid's build_feature_extractor: "clean" resizes outside the network (PIL bicubic to 299), "legacy_tensorflow"
# lets the TorchScript network resize inside (tests check this mapping against clean-fid's own function)
RESIZE_INSIDE = {"clean": False, "legacy_tensorflow": True}


class InceptionWeightsMissing(FileNotFoundError):
    """The Inception TorchScript file is not where the score job expects it (score jobs never download)."""


def check_inception_weights(weights_path: str | Path) -> Path:
    path = Path(weights_path)
    if not path.is_file():
        raise InceptionWeightsMissing(
            f"Inception weights not found at {path}. Score jobs never download: fetch them once with "
            f"`python -m gan fetch-weights --extractor inception --dest {path}` (Snakemake rule fetch_inception) "
            f"on a machine with network access, or download {InceptionExtractor.weights.url} by hand and place it "
            f"at {path}.")
    if path.name != INCEPTION_FILENAME:
        raise ValueError(f"{path}: clean-fid's InceptionV3W loads `{INCEPTION_FILENAME}` from a folder; "
                         f"rename the file to {path.with_name(INCEPTION_FILENAME)}")
    return path


def load_inception(weights_path: str | Path, mode: str = "clean", device: torch.device | str = "cpu"):
    """clean-fid's network for `mode`, loaded from a local file: x in [0, 255] (N, 3, H, W) -> (N, 2048)."""
    from cleanfid.inception_torchscript import InceptionV3W

    if mode not in RESIZE_INSIDE:
        raise ValueError(f"Inception mode {mode!r} not supported; valid: {', '.join(RESIZE_INSIDE)} "
                         "(legacy_pytorch needs another network that clean-fid downloads)")
    path = check_inception_weights(weights_path)
    model = InceptionV3W(str(path.parent), download=False, resize_inside=RESIZE_INSIDE[mode]).to(device)
    return model.eval()


@register_extractor("inception")
class InceptionExtractor(Extractor):
    """clean-fid's Inception (the TensorFlow FID network as TorchScript): pool features and unbiased logits."""
    kind = "images"
    provides = {"pool": Feature(2048, "pool3 features (what FID and KID read)"),
                "logits": Feature(1008, "class logits without the output bias: pool @ output.weight.T")}
    modes = tuple(RESIZE_INSIDE)
    mode_setting = "fid_mode"
    # sha256 of the file at clean-fid's URL (NVIDIA's StyleGAN2-ADA TorchScript), as crowsonkb/k-diffusion pins it
    # for the same URL (k_diffusion/evaluation.py): a download that differs is never placed
    weights = Download(INCEPTION_FILENAME, "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
                       "metrics/inception-2015-12-05.pt",
                       sha256="f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4",
                       setting="inception_weights")
    gpu = True

    def __init__(self, mode: str, weights_path, device: str, batch_size: int, num_workers: int):
        from cleanfid.resize import build_resizer

        from gan.utils import select_device

        self.mode = mode
        self.weights_path = check_inception_weights(weights_path)
        self.device = select_device(device)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.model = load_inception(self.weights_path, mode, self.device)
        self.fn_resize = build_resizer(mode)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:  # as in cleanfid.features.feature_extractor, no DataParallel
        return self.model(x)

    def extract(self, images: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
        from gan.metrics.image_features import extract_features, gray_to_rgb

        if not wanted:
            return {}
        pool = extract_features(images, self._pool, self.mode, self.device, self.batch_size, self.num_workers,
                                fn_resize=self.fn_resize, image_transform=gray_to_rgb)
        out = {"pool": pool}
        if "logits" in wanted:
            import torch

            weight = self.model.base.output.weight
            with torch.no_grad():
                out["logits"] = (torch.from_numpy(pool).to(weight.device) @ weight.T).cpu().numpy()
        return {k: v for k, v in out.items() if k in wanted}

    @classmethod
    def check_weights(cls, path: Path) -> None:
        import torch

        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as err:  # a truncated or foreign file never lands in place
            raise RuntimeError(f"{path} is not a TorchScript Inception file ({err})") from err
        for part in ("layers", "output"):
            if not hasattr(module, part):
                raise RuntimeError(f"{path} has no `{part}` submodule: not clean-fid's Inception TorchScript file")

    def describe(self) -> dict:
        return {"weights_path": str(self.weights_path), "weights_sha256": sha256_file(self.weights_path),
                "device": str(self.device)}
