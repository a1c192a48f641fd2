"""Datasets, one registry: toy 2-D distributions sampled on the fly, and image sets held in memory.

Every image set is returned as one float tensor scaled to [-1, 1] (N, C, H, W), so training can keep it on the
device and draw batches by index; there are no per-sample Python transforms in the training loop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

DATASETS: dict[str, Callable[..., "Dataset"]] = {}


def register_dataset(name: str):
    def wrap(fn):
        DATASETS[name] = fn
        return fn
    return wrap


class DatasetNotFound(FileNotFoundError):
    """The files of a dataset are not on disk and may not be downloaded here."""


@dataclass
class Dataset:
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
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


def get_dataset(name: str, data_root: str | Path = "resources/data", split: str = "train",
                download: bool = False, **options) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r} for dataset {name!r}; valid: train, test")
    return DATASETS[name](data_root=Path(data_root), split=split, download=download, **options)


def dataset_shape(name: str, **options) -> tuple[int, ...]:
    """Shape of one sample without loading the data (used to validate configs before any work)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    if name in TOY_DATASETS:
        return (2,)
    if name == "folder":
        return (int(options.get("channels", 3)), int(options.get("image_size", 32)), int(options.get("image_size", 32)))
    return IMAGE_SHAPES[name]


# --- toy distributions (WGAN-GP reference script gan_toy.py) -------------------------------------------------

def _mixture(centers: np.ndarray, std: float, scale: float, name: str) -> Dataset:
    centers_t = torch.tensor(centers / scale, dtype=torch.float32)
    scaled_std = std / scale

    def sampler(n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(centers_t), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator) * std
        # gan_toy.py adds the noise to the unscaled centre, then divides the point by the scale
        return centers_t[idx] + noise / scale

    return Dataset(name=name, kind="points", shape=(2,), sampler=sampler, centers=centers_t, std=scaled_std)


@register_dataset("8gaussians")
def eight_gaussians(**_) -> Dataset:
    angles = np.arange(8) * np.pi / 4
    centers = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _mixture(centers, std=0.02, scale=1.414, name="8gaussians")


@register_dataset("25gaussians")
def twenty_five_gaussians(**_) -> Dataset:
    grid = np.array([-4, -2, 0, 2, 4], dtype=np.float64)
    centers = np.array([(x, y) for x in grid for y in grid])
    return _mixture(centers, std=0.05, scale=2.828, name="25gaussians")


@register_dataset("swissroll")
def swissroll(**_) -> Dataset:
    from sklearn.datasets import make_swiss_roll

    def sampler(n: int, generator: torch.Generator) -> torch.Tensor:
        # scikit-learn takes a numpy seed: derive it from the torch generator so the draw stays seeded
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        points = make_swiss_roll(n_samples=n, noise=0.25, random_state=seed)[0]
        return torch.tensor(points[:, [0, 2]] / 7.5, dtype=torch.float32)

    return Dataset(name="swissroll", kind="points", shape=(2,), sampler=sampler)


TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")


# --- image sets ----------------------------------------------------------------------------------------------

IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def _image_dataset(name: str, uint8_nchw: torch.Tensor, labels: torch.Tensor | None, num_classes: int | None,
                   **extra) -> Dataset:
    return Dataset(name=name, kind="images", shape=tuple(uint8_nchw.shape[1:]), images=from_uint8(uint8_nchw),
                   labels=labels, num_classes=num_classes, extra=extra)


@register_dataset("digits")
def digits(split: str = "train", **_) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, 16 grey levels): ships with scikit-learn, works offline.

    Split: a fixed, stratified 80/20 cut so that train and test never share an image.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    idx_train, idx_test = train_test_split(np.arange(len(bunch.target)), test_size=0.2, random_state=0,
                                           stratify=bunch.target)
    idx = idx_train if split == "train" else idx_test
    pixels = np.round(bunch.images[idx] * (255.0 / 16.0)).astype(np.uint8)  # values are 0..16
    return _image_dataset("digits", torch.from_numpy(pixels).unsqueeze(1), torch.from_numpy(bunch.target[idx]), 10)


# torchvision's own file lists: what the user must place by hand when there is no network
TORCHVISION_FILES = {
    "mnist": ("MNIST/raw", ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
    "fashion_mnist": ("FashionMNIST/raw", ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
    "cifar10": ("", ["cifar-10-python.tar.gz  (or its extracted folder cifar-10-batches-py/)"]),
}


def _torchvision_dataset(name: str, data_root: Path, split: str, download: bool):
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    root = data_root / name
    try:
        # torchvision checks the MD5 sums of what it downloads and of cifar10's extracted batches
        return cls(root=str(root), train=(split == "train"), download=download)
    except RuntimeError as err:
        sub, files = TORCHVISION_FILES[name]
        where = root / sub if sub else root
        how = ("run `python -m gan prepare --dataset {0}` (or the Snakemake rule `prepare_data`) on a machine "
               "with network access" if not download else "check the network connection")
        raise DatasetNotFound(
            f"dataset {name!r} ({split} split) is not in {root} and could not be {'downloaded' if download else 'found'} "
            f"({err}). Place these files in {where}: {', '.join(files)}; or {how.format(name)}."
        ) from err
    except OSError as err:  # no network: URLError is an OSError
        sub, files = TORCHVISION_FILES[name]
        where = root / sub if sub else root
        raise DatasetNotFound(
            f"dataset {name!r} could not be downloaded into {root} ({err}). Without network access, place these "
            f"files in {where}: {', '.join(files)}."
        ) from err


def prepare(name: str, data_root: str | Path = "resources/data") -> list[Path]:
    """Download and verify a dataset once (what the data-preparation rule runs). Returns the files checked."""
    data_root = Path(data_root)
    if name in TOY_DATASETS or name in ("digits", "folder"):
        return []
    for split in ("train", "test"):
        _torchvision_dataset(name, data_root, split, download=True)
    return sorted(p for p in (data_root / name).rglob("*") if p.is_file())


def _torchvision_images(name: str, data_root: Path, split: str, download: bool, **_) -> Dataset:
    ds = _torchvision_dataset(name, data_root, split, download)
    data = torch.as_tensor(np.asarray(ds.data))
    data = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)  # MNIST (N,H,W); CIFAR (N,H,W,C)
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
    return _image_dataset(name, data.contiguous(), labels, len(ds.classes))


for _name in ("mnist", "fashion_mnist", "cifar10"):
    register_dataset(_name)(lambda _n=_name, **kw: _torchvision_images(_n, **kw))


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@register_dataset("folder")
def image_folder(path: str | Path | None = None, image_size: int = 32, channels: int = 3, split: str = "train",
                 **_) -> Dataset:
    """Any folder of images (searched recursively), resized to image_size x image_size.

    Sub-folder names become labels, as in torchvision's ImageFolder, when every image lies in a sub-folder.
    The split is ignored: a folder is one set.
    """
    from PIL import Image

    if path is None:
        raise ValueError("dataset 'folder' needs the option 'path' (the image folder)")
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetNotFound(f"dataset 'folder': {folder} is not a directory")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetNotFound(f"dataset 'folder': no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    mode = {1: "L", 3: "RGB"}[int(channels)]
    arrays = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert(mode).resize((image_size, image_size), Image.BICUBIC)
            arrays.append(np.asarray(im, dtype=np.uint8).reshape(image_size, image_size, -1))
    data = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    classes = sorted({f.parent.relative_to(folder).as_posix() for f in files})
    labels = None
    if "." not in classes:
        lookup = {c: i for i, c in enumerate(classes)}
        labels = torch.tensor([lookup[f.parent.relative_to(folder).as_posix()] for f in files])
    return _image_dataset("folder", data, labels, len(classes) if labels is not None else None, path=str(folder))


def grid_size(n: int) -> int:
    return int(math.ceil(math.sqrt(n)))
