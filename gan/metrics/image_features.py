"""clean-fid's image pipeline on in-memory arrays: its `ResizeDataset` steps (image transform, `build_resizer(mode)`,
ToTensor) and `get_batch_features`, with batch size, workers and device given explicitly. Every image feature
space (Inception, the dataset classifier) extracts through it, so they preprocess as clean-fid does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import torch


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
