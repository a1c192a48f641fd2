"""A new toy dataset in one file: `modes` gaussians on a circle (an option of the registration)."""
from typing import ClassVar

import numpy as np

from gan.datasets import GaussianMixture, register_dataset


@register_dataset
class RingOfGaussians(GaussianMixture):
    name: ClassVar[str] = "ring"
    raw_std: ClassVar[float] = 0.05
    scale: ClassVar[float] = 1.0
    modes: int = 6

    def raw_centers(self) -> np.ndarray:
        angles = 2 * np.pi * np.arange(self.modes) / self.modes
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
