"""The dataset classifier's network (torch), kept apart so that gan.metrics.classifier's registrations import
without torch."""
from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """conv-conv-pool-conv, pooled to 4x4, a linear embedding (the feature space) and a linear head.

    Works for any channel count and any size >= 4x4 (digits 8x8, MNIST 28x28, CIFAR 32x32). Input in [-1, 1].
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, feat_dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, feat_dim))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feat_dim, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
