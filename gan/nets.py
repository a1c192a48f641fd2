"""The nn.Module classes gan.models' builders assemble (torch; the model registry itself imports without it)."""
from __future__ import annotations

from torch import nn


class Generator(nn.Module):
    def __init__(self, net: nn.Module, z_dim: int, out_shape: tuple[int, ...]):
        super().__init__()
        self.net, self.z_dim, self.out_shape = net, z_dim, tuple(out_shape)

    def forward(self, z):
        return self.net(z).view(z.shape[0], *self.out_shape)


class Critic(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).view(x.shape[0])


class Crop(nn.Module):
    """Keep the top-left `size` x `size` pixels (gan_mnist.py: `output[:, :, :7, :7]`)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x):
        return x[..., :self.size, :self.size]

    def extra_repr(self) -> str:
        return f"size={self.size}"
