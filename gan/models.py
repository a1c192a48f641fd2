"""Generators and critics. Shapes follow the data (channels, size); no training code lives here.

Critics output one unbounded value per sample (a logit for GAN): no sigmoid in any model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

from torch import nn

MODELS: dict[str, Callable[["ModelConfig"], tuple[nn.Module, nn.Module]]] = {}
CRITIC_NORMS = ("none", "layer", "batch")


def register_model(name: str):
    def wrap(fn):
        MODELS[name] = fn
        return fn
    return wrap


@dataclass
class ModelConfig:
    name: str
    data_shape: tuple[int, ...]  # (2,) for points, (C, H, W) for images
    z_dim: int | None = None  # None: the architecture's own default
    width: int | None = None  # hidden units (toy) or base channels (dcgan); None: default
    critic_norm: str = "none"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data_shape"] = list(self.data_shape)
        return d


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


def build_models(cfg: ModelConfig) -> tuple[Generator, Critic]:
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; valid names: {', '.join(sorted(MODELS))}")
    if cfg.critic_norm not in CRITIC_NORMS:
        raise ValueError(f"unknown critic_norm {cfg.critic_norm!r}; valid: {', '.join(CRITIC_NORMS)}")
    return MODELS[cfg.name](cfg)


def _critic_norm(kind: str, features: int, shape: tuple[int, ...] | None = None) -> list[nn.Module]:
    if kind == "none":
        return []
    if kind == "batch":
        return [nn.BatchNorm1d(features) if shape is None else nn.BatchNorm2d(features)]
    # LayerNorm over every non-batch dimension: per-sample, so it keeps the gradient penalty valid
    return [nn.LayerNorm([features] if shape is None else [features, *shape])]


@register_model("toy")
def toy_models(cfg: ModelConfig):
    """WGAN-GP gan_toy.py: 3 hidden layers of 512 ReLU units in G and D, 2-D noise."""
    if len(cfg.data_shape) != 1:
        raise ValueError(f"model 'toy' is for 2-D points, not data of shape {list(cfg.data_shape)}")
    dim, width, z_dim = cfg.data_shape[0], cfg.width or 512, cfg.z_dim or 2

    def mlp(n_in, n_out, norm):
        layers = []
        for i in range(3):
            layers += [nn.Linear(n_in if i == 0 else width, width), *(_critic_norm(cfg.critic_norm, width) if norm
                                                                      else []), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(width, n_out))

    return Generator(mlp(z_dim, dim, False), z_dim, cfg.data_shape), Critic(mlp(dim, 1, True))


@register_model("mlp")
def mlp_models(cfg: ModelConfig):
    """The image MLP of the GAN notes (seeds/003): G 256-512-1024-2048 with BatchNorm and Tanh; D 1024-512-256-1."""
    out = math.prod(cfg.data_shape)
    z_dim = cfg.z_dim or 128
    g = nn.Sequential(
        nn.Linear(z_dim, 256), nn.ReLU(),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.ReLU(),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
        nn.Linear(1024, 2048), nn.BatchNorm1d(2048), nn.ReLU(),
        nn.Linear(2048, out), nn.Tanh(),
    )
    layers: list[nn.Module] = [nn.Flatten()]
    n_in = out
    for width in (1024, 512, 256):
        layers += [nn.Linear(n_in, width), *_critic_norm(cfg.critic_norm, width), nn.ReLU()]
        n_in = width
    return Generator(g, z_dim, cfg.data_shape), Critic(nn.Sequential(*layers, nn.Linear(n_in, 1)))


def _dcgan_plan(size: int) -> tuple[int, int]:
    """(base size, number of x2 stages): 32 -> (4, 3), 28 -> (7, 2), 8 -> (4, 1), 64 -> (4, 4)."""
    stages = 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        stages += 1
    if stages == 0:
        raise ValueError(f"model 'dcgan' needs an image size of the form b*2^k with 4 <= b <= 7, k >= 1; got {size}")
    return size, stages


@register_model("dcgan")
def dcgan_models(cfg: ModelConfig):
    """DCGAN-style conv G (transposed convs, BatchNorm, ReLU, Tanh) and critic (strided convs, LeakyReLU).

    The number of x2 stages follows the image size (28x28 and 32x32 alike); the critic's normalisation is
    'none', 'layer' (for WGAN-GP) or 'batch' (classic DCGAN discriminator).
    """
    if len(cfg.data_shape) != 3 or cfg.data_shape[1] != cfg.data_shape[2]:
        raise ValueError(f"model 'dcgan' is for square images (C, H, W), not {list(cfg.data_shape)}")
    channels, size = cfg.data_shape[0], cfg.data_shape[1]
    base, stages = _dcgan_plan(size)
    width, z_dim = cfg.width or 64, cfg.z_dim or 128
    top = width * 2 ** (stages - 1)  # channels at the base resolution

    g_layers: list[nn.Module] = [nn.Linear(z_dim, top * base * base), nn.Unflatten(1, (top, base, base)),
                                 nn.BatchNorm2d(top), nn.ReLU()]
    ch = top
    for i in range(stages):
        last = i == stages - 1
        out_ch = channels if last else ch // 2
        g_layers.append(nn.ConvTranspose2d(ch, out_ch, 4, stride=2, padding=1))
        g_layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out_ch), nn.ReLU()]
        ch = out_ch

    d_layers: list[nn.Module] = []
    ch, res = channels, size
    for i in range(stages):
        out_ch = width * 2 ** i
        res //= 2
        d_layers.append(nn.Conv2d(ch, out_ch, 4, stride=2, padding=1))
        if i > 0:  # DCGAN: no normalisation on the critic's first layer
            d_layers += _critic_norm(cfg.critic_norm, out_ch, (res, res))
        d_layers.append(nn.LeakyReLU(0.2))
        ch = out_ch
    d_layers += [nn.Flatten(), nn.Linear(ch * res * res, 1)]
    return Generator(nn.Sequential(*g_layers), z_dim, cfg.data_shape), Critic(nn.Sequential(*d_layers))
