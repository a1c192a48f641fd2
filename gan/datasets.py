"""Datasets, one registry: each registered dataset is one class that describes itself.

A registration (`@register_dataset` on a `DatasetSpec` subclass) carries its kind ("points" | "images"), its
options as dataclass fields (a folder's path, an image size), its sample shape as a function of those options,
its raw files and checksums and how to prepare them, its classes, and for mixtures its centres and std. The
config, the DAG, the models, the metrics and the report ask the registration; nothing keeps a side table.

Toy distributions are sampled on the fly. Image sets are held in memory as one float tensor scaled to [-1, 1]
(N, C, H, W), so training can keep it on the device and draw batches by index. `prepare_dataset` writes both
splits of an image set once into a tensor file (the DAG's `prepare_data` rule); every later job reads that file
instead of decoding the raw files again.

Registrations import without torch (the DAG reads names, kinds, shapes and options when it is built); torch is
imported where data is decoded, sampled or loaded.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

if TYPE_CHECKING:
    import torch

KINDS = ("points", "images")
SPLITS = ("train", "test")
PREPARED_FORMAT = 1

DATASETS: dict[str, type["DatasetSpec"]] = {}


class DatasetNotFound(FileNotFoundError):
    """The files of a dataset are not on disk and may not be downloaded here."""


def register_dataset(cls: type["DatasetSpec"]) -> type["DatasetSpec"]:
    """Register a dataset class (its `name`, `kind` and options as dataclass fields)."""
    if "__dataclass_fields__" not in cls.__dict__:  # options are fields whether or not the author decorated
        cls = dataclass(frozen=True)(cls)
    if getattr(cls, "kind", None) not in KINDS:
        raise ValueError(f"dataset {cls.__name__}: kind must be one of {KINDS}, got {getattr(cls, 'kind', None)!r}")
    DATASETS[cls.name] = cls
    return cls


@dataclass
class Dataset:
    """Loaded data of one split: image tensors, or a sampler for a toy distribution."""
    name: str
    kind: str  # "points" or "images"
    shape: tuple[int, ...]
    images: torch.Tensor | None = None  # float in [-1, 1], (N, C, H, W)
    labels: torch.Tensor | None = None
    num_classes: int | None = None
    sampler: Callable[[int, torch.Generator], torch.Tensor] | None = None
    centers: torch.Tensor | None = None  # mixture-of-gaussians modes, after scaling
    std: float | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return 0 if self.images is None else self.images.shape[0]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw n points from a toy distribution (CPU float32, (n, 2))."""
        if self.sampler is None:
            raise TypeError(f"dataset {self.name!r} is a fixed image set; draw batches by index instead")
        return self.sampler(n, generator)

    def images_uint8(self) -> torch.Tensor:
        if self.images is None:
            raise TypeError(f"dataset {self.name!r} has no images")
        return to_uint8(self.images)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounding to nearest."""
    import torch

    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset with its options (the dataclass fields). Subclasses set the class attributes."""
    name: ClassVar[str]
    kind: ClassVar[str]
    default_model: ClassVar[str]
    default_extractor: ClassVar[str]

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int | None:
        return None

    def files(self) -> list[tuple[str, str | None]]:
        """Raw files as (path relative to the download folder, md5 or None) that `prepare` fetches/verifies."""
        return []

    def split_size(self, split: str) -> int | None:
        """Examples in `split` where the registration knows it without loading data; None: unknown, or a toy
        distribution's unlimited draws. The DAG checks a reference's `n_real` against it."""
        return None

    def prepare(self, downloads: Path, download: bool = True) -> list[Path]:
        """Fetch and verify the raw files once (network only here). Returns the files checked."""
        return []

    def load(self, downloads: Path, split: str = "train", download: bool = False) -> Dataset:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def channel_labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        """For sets whose channels are separate labelled samples (stacked digits): (N, C) labels per channel, so
        a classifier can be trained and applied per channel. None for ordinary sets."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the registration says about itself (recorded in prepared files, references and MLflow)."""
        return {"dataset": self.name, "kind": self.kind, "shape": list(self.shape), "options": self.options(),
                "num_classes": self.num_classes, "default_model": self.default_model,
                "default_extractor": self.default_extractor}


def _plain(value):
    return str(value) if isinstance(value, Path) else value


def dataset_spec(name: str, **options) -> DatasetSpec:
    """The registered dataset `name` with `options`; unknown names and options name the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    cls = DATASETS[name]
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"dataset {name!r} has no option(s) {', '.join(unknown)}; valid: "
                         f"{', '.join(valid) or '(none)'}")
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"dataset {name!r}: {err}") from None


def get_dataset(name: str, data_root: str | Path = "resources/data", split: str = "train",
                download: bool = False, prepared: str | Path | None = None, **options) -> Dataset:
    """One split of dataset `name`: from the prepared tensor file when given, else from the raw files."""
    spec = dataset_spec(name, **options)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for dataset {name!r}; valid: {', '.join(SPLITS)}")
    if prepared is not None:
        return load_prepared(prepared, split, expect=spec)
    return spec.load(Path(data_root), split, download)


# --- prepared files: what the DAG's prepare_data writes and every later job reads ----------------------------

def prepare_dataset(spec: DatasetSpec, downloads: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Fetch/verify the raw files, decode both splits once and write them as one tensor file (atomically)."""
    from .atomic import torch_save

    downloads = Path(downloads)
    files = spec.prepare(downloads, download=True)
    payload: dict[str, Any] = {"format": PREPARED_FORMAT, "description": spec.describe(),
                               "files": [str(f) for f in files], "splits": {}}
    if spec.kind == "images":
        for split in SPLITS:
            ds = spec.load(downloads, split, download=False)
            payload["splits"][split] = {"images": ds.images_uint8(), "labels": ds.labels}
    torch_save(payload, out_path)
    return {**spec.describe(), "sizes": {s: len(v["images"]) for s, v in payload["splits"].items()}}


def load_prepared(path: str | Path, split: str = "train", expect: DatasetSpec | None = None) -> Dataset:
    path = Path(path)
    if not path.exists():
        raise DatasetNotFound(f"prepared dataset {path} not found; run the Snakemake rule prepare_data "
                              f"(or `python -m gan prepare`) first")
    from .atomic import rerun_remedy, torch_load, unreadable

    remedy = rerun_remedy("prepare_data", path)
    payload = torch_load(path, remedy)
    try:
        desc = payload["description"]
        spec = dataset_spec(desc["dataset"], **desc["options"])
        images, labels = ((payload["splits"][split]["images"], payload["splits"][split]["labels"])
                          if spec.kind == "images" else (None, None))
    except (KeyError, TypeError, ValueError) as exc:
        raise unreadable(path, f"not a prepared dataset of this version ({type(exc).__name__}: {exc})",
                         remedy) from None
    if expect is not None and spec != expect:
        raise ValueError(f"prepared dataset {path} holds {desc['dataset']} {desc['options']}, "
                         f"not {expect.name} {expect.options()}")
    if spec.kind == "points":
        return spec.load(Path("."), split)
    return _image_dataset(spec, images, labels)


# --- toy distributions (WGAN-GP reference script gan_toy.py) -------------------------------------------------

@dataclass(frozen=True)
class PointsSpec(DatasetSpec):
    kind: ClassVar[str] = "points"
    default_model: ClassVar[str] = "toy"
    default_extractor: ClassVar[str] = "points"

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    def sampler(self) -> Callable[[int, torch.Generator], torch.Tensor]:
        raise NotImplementedError

    def load(self, downloads: Path, split: str = "train", download: bool = False) -> Dataset:
        return Dataset(name=self.name, kind="points", shape=self.shape, sampler=self.sampler())


@dataclass(frozen=True)
class GaussianMixture(PointsSpec):
    """Isotropic gaussians around `raw_centers` with std `raw_std`, the point divided by `scale` (gan_toy.py).

    `centers` and `std` are after scaling: what the mode metrics compare against.
    """
    raw_std: ClassVar[float]
    scale: ClassVar[float]

    def raw_centers(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def centers(self) -> torch.Tensor:
        import torch

        return torch.tensor(self.raw_centers() / self.scale, dtype=torch.float32)

    @property
    def std(self) -> float:
        return self.raw_std / self.scale

    @property
    def num_classes(self) -> int:
        return len(self.raw_centers())

    def sampler(self):
        import torch

        centers, std, scale = self.centers, self.raw_std, self.scale

        def sample(n: int, generator: torch.Generator) -> torch.Tensor:
            idx = torch.randint(len(centers), (n,), generator=generator)
            noise = torch.randn(n, 2, generator=generator) * std
            # gan_toy.py adds the noise to the unscaled centre, then divides the point by the scale
            return centers[idx] + noise / scale

        return sample

    def load(self, downloads: Path, split: str = "train", download: bool = False) -> Dataset:
        ds = super().load(downloads, split, download)
        ds.centers, ds.std, ds.num_classes = self.centers, self.std, self.num_classes
        return ds

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "centers": self.centers.tolist(), "std": self.std}


@register_dataset
@dataclass(frozen=True)
class EightGaussians(GaussianMixture):
    name: ClassVar[str] = "8gaussians"
    raw_std: ClassVar[float] = 0.02
    scale: ClassVar[float] = 1.414

    def raw_centers(self) -> np.ndarray:
        angles = np.arange(8) * np.pi / 4
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


@register_dataset
@dataclass(frozen=True)
class TwentyFiveGaussians(GaussianMixture):
    name: ClassVar[str] = "25gaussians"
    raw_std: ClassVar[float] = 0.05
    scale: ClassVar[float] = 2.828

    def raw_centers(self) -> np.ndarray:
        grid = np.array([-4, -2, 0, 2, 4], dtype=np.float64)
        return np.array([(x, y) for x in grid for y in grid])


@register_dataset
@dataclass(frozen=True)
class SwissRoll(PointsSpec):
    name: ClassVar[str] = "swissroll"

    def sampler(self):
        import torch
        from sklearn.datasets import make_swiss_roll

        def sample(n: int, generator: torch.Generator) -> torch.Tensor:
            # scikit-learn takes a numpy seed: derive it from the torch generator so the draw stays seeded
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            points = make_swiss_roll(n_samples=n, noise=0.25, random_state=seed)[0]
            return torch.tensor(points[:, [0, 2]] / 7.5, dtype=torch.float32)

        return sample


# --- image sets ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageSpec(DatasetSpec):
    """An image set. `image_size` (None: native) resizes every image once, when it is loaded."""
    kind: ClassVar[str] = "images"
    default_model: ClassVar[str] = "dcgan"
    default_extractor: ClassVar[str] = "inception"
    channels: ClassVar[int]
    native_size: ClassVar[int]
    classes: ClassVar[int | None] = None
    sizes: ClassVar[dict[str, int]] = {}  # images per split, as the publisher ships them

    def split_size(self, split: str) -> int | None:
        return self.sizes.get(split)

    @property
    def size(self) -> int:
        return getattr(self, "image_size", None) or self.native_size

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.size, self.size)

    @property
    def num_classes(self) -> int | None:
        return self.classes

    def load_split(self, downloads: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 (N, C, H, W) at the native size, and the labels (or None)."""
        raise NotImplementedError

    def load(self, downloads: Path, split: str = "train", download: bool = False) -> Dataset:
        images, labels = self.load_split(downloads, split, download)
        return _image_dataset(self, resize_uint8(images, self.size), labels)


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic, antialiased resize of uint8 (N, C, H, W); identity at the same size."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    import torch
    import torch.nn.functional as F

    out = F.interpolate(images.float(), size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def _image_dataset(spec: DatasetSpec, uint8_nchw: torch.Tensor, labels: torch.Tensor | None) -> Dataset:
    return Dataset(name=spec.name, kind="images", shape=tuple(uint8_nchw.shape[1:]), images=from_uint8(uint8_nchw),
                   labels=labels, num_classes=spec.num_classes, extra=spec.options())


@register_dataset
@dataclass(frozen=True)
class Digits(ImageSpec):
    """scikit-learn's 8x8 digits (1797 images, 16 grey levels): ships with scikit-learn, works offline.

    Split: a fixed, stratified 80/20 cut so that train and test never share an image.
    """
    name: ClassVar[str] = "digits"
    image_size: int | None = None
    channels: ClassVar[int] = 1
    native_size: ClassVar[int] = 8
    classes: ClassVar[int] = 10
    sizes: ClassVar[dict[str, int]] = {"train": 1437, "test": 360}  # of 1797, by the cut below

    def load_split(self, downloads, split, download):
        import torch
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        idx_train, idx_test = train_test_split(np.arange(len(bunch.target)), test_size=0.2, random_state=0,
                                               stratify=bunch.target)
        idx = idx_train if split == "train" else idx_test
        pixels = np.round(bunch.images[idx] * (255.0 / 16.0)).astype(np.uint8)  # values are 0..16
        return torch.from_numpy(pixels).unsqueeze(1), torch.from_numpy(bunch.target[idx])


@dataclass(frozen=True)
class TorchvisionImages(ImageSpec):
    """A torchvision dataset class; torchvision owns its URLs and MD5 sums, which `files()` reports."""
    image_size: int | None = None
    tv_class: ClassVar[str]

    def _cls(self):
        import torchvision.datasets as tvd

        return getattr(tvd, self.tv_class)

    @property
    def root_name(self) -> str:
        return self.name

    def files(self) -> list[tuple[str, str | None]]:
        cls = self._cls()
        if hasattr(cls, "resources"):  # MNIST family: gz files under <Class>/raw
            return [(f"{cls.__name__}/raw/{name}", md5) for name, md5 in cls.resources]
        return [(cls.filename, cls.tgz_md5)]  # CIFAR: one archive (or its extracted folder)

    def _torchvision(self, downloads: Path, split: str, download: bool):
        root = downloads / self.root_name
        try:
            # torchvision checks the MD5 sums of what it downloads and of cifar's extracted batches
            return self._cls()(root=str(root), train=(split == "train"), download=download)
        except (RuntimeError, OSError) as err:  # not found / no network (URLError is an OSError)
            files = ", ".join(f"{root / p}" for p, _ in self.files())
            how = ("check the network connection" if download else
                   f"run `python -m gan prepare --dataset {self.name}` (or the Snakemake rule `prepare_data`) on a "
                   "machine with network access")
            raise DatasetNotFound(
                f"dataset {self.name!r} ({split} split) is not in {root} and could not be "
                f"{'downloaded' if download else 'found'} ({err}). Place these files: {files}; or {how}.") from err

    def prepare(self, downloads: Path, download: bool = True) -> list[Path]:
        for split in SPLITS:
            self._torchvision(downloads, split, download)
        return sorted(p for p in (downloads / self.root_name).rglob("*") if p.is_file())

    def load_split(self, downloads, split, download):
        import torch

        ds = self._torchvision(downloads, split, download)
        data = torch.as_tensor(np.asarray(ds.data))
        data = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)  # MNIST (N,H,W); CIFAR (N,H,W,C)
        return data.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)


@register_dataset
@dataclass(frozen=True)
class MNIST(TorchvisionImages):
    name: ClassVar[str] = "mnist"
    tv_class: ClassVar[str] = "MNIST"
    channels: ClassVar[int] = 1
    native_size: ClassVar[int] = 28
    classes: ClassVar[int] = 10
    sizes: ClassVar[dict[str, int]] = {"train": 60000, "test": 10000}


@register_dataset
@dataclass(frozen=True)
class FashionMNIST(TorchvisionImages):
    name: ClassVar[str] = "fashion_mnist"
    tv_class: ClassVar[str] = "FashionMNIST"
    channels: ClassVar[int] = 1
    native_size: ClassVar[int] = 28
    classes: ClassVar[int] = 10
    sizes: ClassVar[dict[str, int]] = {"train": 60000, "test": 10000}


@register_dataset
@dataclass(frozen=True)
class CIFAR10(TorchvisionImages):
    name: ClassVar[str] = "cifar10"
    tv_class: ClassVar[str] = "CIFAR10"
    channels: ClassVar[int] = 3
    native_size: ClassVar[int] = 32
    classes: ClassVar[int] = 10
    sizes: ClassVar[dict[str, int]] = {"train": 50000, "test": 10000}


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@register_dataset
@dataclass(frozen=True)
class ImageFolder(ImageSpec):
    """Any folder of images (searched recursively), resized to image_size x image_size.

    Sub-folder names become labels, as in torchvision's ImageFolder, when every image lies in a sub-folder.
    The split is ignored: a folder is one set.
    """
    name: ClassVar[str] = "folder"
    path: str | None = None
    image_size: int = 32
    channels: int = 3  # type: ignore[misc]  # an option here, a constant elsewhere

    def __post_init__(self):
        if self.path is None:
            raise ValueError("needs the option 'path' (the image folder)")
        if self.channels not in (1, 3):
            raise ValueError(f"option channels must be 1 or 3, got {self.channels!r}")

    @property
    def size(self) -> int:
        return int(self.image_size)

    @property
    def num_classes(self) -> int | None:
        classes = self._classes()
        return len(classes) if classes and "." not in classes else None

    def _files(self) -> list[Path]:
        folder = Path(self.path)
        if not folder.is_dir():
            raise DatasetNotFound(f"dataset 'folder': {folder} is not a directory")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetNotFound(f"dataset 'folder': no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
        return files

    def _classes(self) -> list[str]:
        try:
            files = self._files()
        except DatasetNotFound:
            return []
        return sorted({f.parent.relative_to(Path(self.path)).as_posix() for f in files})

    def split_size(self, split: str) -> int | None:
        try:
            return len(self._files())  # one set for both splits; listing reads no image
        except DatasetNotFound:
            return None

    def prepare(self, downloads: Path, download: bool = True) -> list[Path]:
        return self._files()

    def load_split(self, downloads, split, download):
        import torch
        from PIL import Image

        files = self._files()
        mode = {1: "L", 3: "RGB"}[int(self.channels)]
        arrays = []
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert(mode).resize((self.size, self.size), Image.BICUBIC)
                    arrays.append(np.asarray(im, dtype=np.uint8).reshape(self.size, self.size, -1))
            except (OSError, ValueError, Image.DecompressionBombError) as err:  # UnidentifiedImageError: OSError
                raise ValueError(f"dataset 'folder': {f} is not a readable image ({type(err).__name__}: "
                                 f"{' '.join(str(err).split())[:200]}); remove or replace it") from None
        data = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        classes = self._classes()
        labels = None
        if "." not in classes:
            lookup = {c: i for i, c in enumerate(classes)}
            labels = torch.tensor([lookup[f.parent.relative_to(Path(self.path)).as_posix()] for f in files])
        return data, labels


DEFAULT_STACKS = 10_000  # stacked samples per split: 10 per mode


@register_dataset
@dataclass(frozen=True)
class StackedDigits(ImageSpec):
    """Stacked digits, the mode-collapse benchmark of Metz et al. 2016 (Unrolled GAN), VEEGAN and PacGAN: each
    sample stacks three digits of `source` as its three channels, so there are 1,000 modes (label =
    100 * d1 + 10 * d2 + d3). `source` "digits" (scikit-learn's 8x8, the offline proxy) or "mnist" (28x28, the
    papers' Stacked MNIST, when its files are present). `stacks`: stacked samples per split (default 10,000);
    every mode gets the same number of stacks (within one), each channel a random image of its digit, so the set
    covers all 1,000 modes (drawing the three digits at random covered only 753 with the 1,437 stacks the digits
    split used to give). `seed`: which images are stacked (the test split uses seed + 1, so train and test never
    share a stack of the same draw).
    """
    name: ClassVar[str] = "stacked_digits"
    source: str = "digits"
    stacks: int | None = None
    seed: int = 0
    channels: ClassVar[int] = 3
    classes: ClassVar[int] = 1000

    def __post_init__(self):
        if self.source not in ("digits", "mnist"):
            raise ValueError(f"option source must be 'digits' or 'mnist', got {self.source!r}")

    def _source(self) -> ImageSpec:
        return dataset_spec(self.source)

    @property
    def native_size(self) -> int:  # type: ignore[override]
        return self._source().native_size

    def files(self):
        return self._source().files()

    def prepare(self, downloads: Path, download: bool = True) -> list[Path]:
        return self._source().prepare(downloads, download)

    def split_size(self, split: str) -> int | None:
        return self.stacks or DEFAULT_STACKS

    def load_split(self, downloads, split, download):
        import torch

        images, labels = self._source().load_split(downloads, split, download)
        n = self.stacks or DEFAULT_STACKS
        rng = np.random.default_rng(self.seed + (split == "test"))
        modes = rng.permutation(np.resize(np.arange(self.classes), n))  # every mode n // 1000 or n // 1000 + 1 times
        digits = np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=1)
        labels_np = labels.numpy()
        idx = np.empty_like(digits)
        for d in range(10):  # each channel: a random image of its digit
            pool = np.flatnonzero(labels_np == d)
            where = digits == d
            idx[where] = pool[rng.integers(0, len(pool), size=int(where.sum()))]
        stacked = images[torch.from_numpy(idx)].squeeze(2)  # (n, 3, 1, H, W) -> (n, 3, H, W)
        return stacked.contiguous(), torch.from_numpy(modes).to(labels.dtype)

    def channel_labels(self, labels: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.stack([labels // 100, labels // 10 % 10, labels % 10], dim=1)
