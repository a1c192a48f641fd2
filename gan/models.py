"""Generators and critics. Shapes follow the data (channels, size); no training code lives here.

Critics output one unbounded value per sample (a logit for GAN): no sigmoid in any model.

A registration is a builder `fn(ModelConfig) -> (Generator, Critic)` (torch, imported in the builder) and, when
the model can be validated without building it, a `check(ModelConfig)` that raises ValueError for every config the
builder refuses (data shapes). Such a model's critic mixes the samples of a batch only where `critic_norm` asks
for it (`critic_mixes_samples`), so the DAG validates it without torch; a model registered without a check is
built on the meta device to validate it. The nn.Module classes the builders assemble live in gan.nets.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from torch import nn

    from .nets import Critic, Generator

MODELS: dict[str, Callable[[ModelConfig], tuple[Generator, Critic]]] = {}
#: the initialisation each registered model gets with init "default" (its architecture's own)
MODEL_INITS: dict[str, str] = {}
#: each model's check of a config without torch (None: only building the model validates it)
MODEL_CHECKS: dict[str, Callable[[ModelConfig], None] | None] = {}
CRITIC_NORMS = ("none", "layer", "batch")
#: critic normalisations that mix the samples of a batch (BatchNorm; `_critic_norm` builds them)
SAMPLE_MIXING_NORMS = ("batch",)
#: weight initialisations (ModelConfig.init); "default" is the model's own (MODEL_INITS), see `initialise`
INITS = ("default", "pytorch", "dcgan", "tflib", "tflib-he")


def register_model(name: str, init: str = "pytorch", check: Callable[[ModelConfig], None] | None = None):
    """Register a builder `fn(ModelConfig) -> (Generator, Critic)`; `init` is what init "default" means for it.

    `check(cfg)` raises ValueError for every config the builder refuses, without torch; giving it also promises
    that the critic mixes the samples of a batch only where `cfg.critic_norm` asks for it. Without it the model is
    built (on the meta device) wherever a config is validated, the DAG build included.
    """
    if init not in INITS or init == "default":
        raise ValueError(f"model {name!r}: default init must be one of {', '.join(INITS[1:])}, not {init!r}")

    def wrap(fn):
        MODELS[name] = fn
        MODEL_INITS[name] = init
        MODEL_CHECKS[name] = check
        return fn
    return wrap


def any_shape(cfg: ModelConfig) -> None:
    """The check of a model that takes data of any shape (it flattens its input)."""


@dataclass
class ModelConfig:
    name: str
    data_shape: tuple[int, ...]  # (2,) for points, (C, H, W) for images
    z_dim: int | None = None  # None: the architecture's own default
    width: int | None = None  # hidden units (toy) or base channels (dcgan); None: default
    critic_norm: str = "none"
    # weight initialisation (INITS): "default" = the model's own (PyTorch's for toy/mlp/dcgan, the reference
    # code's for wgan-gp-*). Checkpoints written before this key existed rebuild with "default".
    init: str = "default"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data_shape"] = list(self.data_shape)
        return d


def check_model(cfg: ModelConfig) -> bool:
    """Validate `cfg` without torch: the name, critic_norm, init and the model's own check.

    Returns whether that is the whole validation; False for a model registered without a check, which only
    building it validates.
    """
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; valid names: {', '.join(sorted(MODELS))}")
    if cfg.critic_norm not in CRITIC_NORMS:
        raise ValueError(f"unknown critic_norm {cfg.critic_norm!r}; valid: {', '.join(CRITIC_NORMS)}")
    if cfg.init not in INITS:
        raise ValueError(f"unknown init {cfg.init!r}; valid: {', '.join(INITS)}")
    check = MODEL_CHECKS.get(cfg.name)
    if check is None:
        return False
    check(cfg)
    return True


def critic_mixes_samples(cfg: ModelConfig) -> bool:
    """Whether the critic of `cfg` mixes the samples of a batch (BatchNorm), from its settings alone.

    Conservative: critic_norm 'batch' counts even where the architecture has no layer to normalise (dcgan at 8x8).
    """
    return cfg.critic_norm in SAMPLE_MIXING_NORMS


def build_models(cfg: ModelConfig) -> tuple[Generator, Critic]:
    check_model(cfg)
    generator, critic = MODELS[cfg.name](cfg)
    init = resolved_init(cfg)
    for net in (generator, critic):
        initialise(net, init)
    return generator, critic


def resolved_init(cfg: ModelConfig) -> str:
    """The concrete initialisation of `cfg`: its `init`, or with "default" the model's registered one."""
    return MODEL_INITS.get(cfg.name, "pytorch") if cfg.init == "default" else cfg.init


def initialise(net: nn.Module, init: str) -> nn.Module:
    """Re-initialise the weights of `net` in place (uses the global torch RNG, so a run seed fixes it).

    - "pytorch": leave PyTorch's module defaults (Kaiming-uniform(a=sqrt(5)) weights, fan-in uniform biases).
    - "dcgan": WassersteinGAN main.py `weights_init` (= DCGAN, Radford et al. 2016): conv and transposed-conv
      weights N(0, 0.02), BatchNorm scales N(1, 0.02) and shifts 0. We also give Linear layers N(0, 0.02) (the
      reference DCGAN has none) and zero every conv/linear bias (the reference's convs have bias=False).
    - "tflib": improved_wgan_training tflib/ops (what gan_mnist.py and gan_cifar.py use): uniform on
      [-s*sqrt(3), s*sqrt(3)], i.e. standard deviation s, with conv2d.py's he_init (the default)
      s = sqrt(4 / (fan_in + fan_out)), fan_in = in * k^2, fan_out = out * k^2 / stride^2; deconv2d.py the same with
      fan_in = in * k^2 / stride^2, fan_out = out * k^2; linear.py's default (initialization=None, 'glorot')
      s = sqrt(2 / (in + out)); every bias 0; batchnorm.py scale 1, offset 0.
    - "tflib-he": gan_toy.py's: its ReLULayer passes initialization='he' to tflib's linear.py (s = sqrt(2 / in)),
      so every Linear layer but the network's last gets it; the last (the output layer) keeps linear.py's
      Glorot; every bias 0. Convolutions as "tflib".
    Norm layers other than BatchNorm (LayerNorm) keep weight 1, bias 0 under every scheme.
    """
    if init not in INITS or init == "default":
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS[1:])}")
    if init == "pytorch":
        return net
    import torch
    from torch import nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    output_layer = linears[-1] if linears else None
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (*convs, nn.Linear)):
                if init == "dcgan":
                    m.weight.normal_(0.0, 0.02)
                else:
                    if isinstance(m, nn.Linear) and init == "tflib-he" and m is not output_layer:
                        std = math.sqrt(2.0 / m.in_features)
                    elif isinstance(m, nn.Linear):
                        std = math.sqrt(2.0 / (m.in_features + m.out_features))
                    else:
                        k = math.prod(m.kernel_size)
                        stride = math.prod(m.stride)
                        fan_in, fan_out = m.in_channels * k, m.out_channels * k
                        if m.transposed:
                            fan_in /= stride
                        else:
                            fan_out /= stride
                        std = math.sqrt(4.0 / (fan_in + fan_out))
                    m.weight.uniform_(-std * math.sqrt(3), std * math.sqrt(3))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                if init == "dcgan":
                    m.weight.normal_(1.0, 0.02)
                else:
                    m.weight.fill_(1.0)
                m.bias.zero_()
    return net


def _critic_norm(kind: str, features: int, shape: tuple[int, ...] | None = None) -> list[nn.Module]:
    from torch import nn

    if kind == "none":
        return []
    if kind == "batch":
        return [nn.BatchNorm1d(features) if shape is None else nn.BatchNorm2d(features)]
    # LayerNorm over every non-batch dimension: per-sample, so it keeps the gradient penalty valid
    return [nn.LayerNorm([features] if shape is None else [features, *shape])]


def _points(cfg: ModelConfig) -> None:
    if len(cfg.data_shape) != 1:
        raise ValueError(f"model 'toy' is for 2-D points, not data of shape {list(cfg.data_shape)}")


@register_model("toy", check=_points)
def toy_models(cfg: ModelConfig):
    """WGAN-GP gan_toy.py: 3 hidden layers of 512 ReLU units in G and D, 2-D noise."""
    from torch import nn

    from .nets import Critic, Generator

    dim, width, z_dim = cfg.data_shape[0], cfg.width or 512, cfg.z_dim or 2

    def mlp(n_in, n_out, norm):
        layers = []
        for i in range(3):
            layers += [nn.Linear(n_in if i == 0 else width, width), *(_critic_norm(cfg.critic_norm, width) if norm
                                                                      else []), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(width, n_out))

    return Generator(mlp(z_dim, dim, False), z_dim, cfg.data_shape), Critic(mlp(dim, 1, True))


@register_model("mlp", check=any_shape)
def mlp_models(cfg: ModelConfig):
    """The image MLP of the GAN notes (seeds/003): G 256-512-1024-2048 with BatchNorm and Tanh; D 1024-512-256-1."""
    from torch import nn

    from .nets import Critic, Generator

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


def _square_images(cfg: ModelConfig) -> None:
    if len(cfg.data_shape) != 3 or cfg.data_shape[1] != cfg.data_shape[2]:
        raise ValueError(f"model 'dcgan' is for square images (C, H, W), not {list(cfg.data_shape)}")
    _dcgan_plan(cfg.data_shape[1])


@register_model("dcgan", check=_square_images)
def dcgan_models(cfg: ModelConfig):
    """DCGAN-style conv G (transposed convs, BatchNorm, ReLU, Tanh) and critic (strided convs, LeakyReLU).

    The number of x2 stages follows the image size (28x28 and 32x32 alike); the critic's normalisation is
    'none', 'layer' (for WGAN-GP) or 'batch' (classic DCGAN discriminator).
    """
    from torch import nn

    from .nets import Critic, Generator

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


def _reference_models(cfg: ModelConfig, size: int, dim: int, g_batchnorm: bool):
    """The DCGAN-like G and critic shared by improved_wgan_training's gan_mnist.py and gan_cifar.py.

    Critic: Conv(C->DIM, 5, s2)-LReLU(0.2)-Conv(DIM->2DIM, 5, s2)-[norm]-LReLU-Conv(2DIM->4DIM, 5, s2)-[norm]-LReLU-
    Linear(4*4*4DIM -> 1). Generator: Linear(z -> 4*4*4DIM)-[BN]-ReLU-Deconv(4DIM->2DIM, 5)-[BN]-ReLU-(crop to 7x7
    at 28x28)-Deconv(2DIM->DIM, 5)-[BN]-ReLU-Deconv(DIM->C, 5)-Tanh.
    """
    from torch import nn

    from .nets import Critic, Crop, Generator

    channels = cfg.data_shape[0]
    dim, z_dim = cfg.width or dim, cfg.z_dim or 128

    def g_norm(features: int, two_d: bool = True) -> list[nn.Module]:
        if not g_batchnorm:
            return []
        return [nn.BatchNorm2d(features) if two_d else nn.BatchNorm1d(features)]

    def deconv(n_in: int, n_out: int) -> nn.Module:
        # tflib Deconv2D: conv2d_transpose, 5x5, stride 2, 'SAME' -> exactly twice the input size
        return nn.ConvTranspose2d(n_in, n_out, 5, stride=2, padding=2, output_padding=1)

    g_layers: list[nn.Module] = [nn.Linear(z_dim, 4 * 4 * 4 * dim), *g_norm(4 * 4 * 4 * dim, two_d=False),
                                 nn.ReLU(), nn.Unflatten(1, (4 * dim, 4, 4)),
                                 deconv(4 * dim, 2 * dim), *g_norm(2 * dim), nn.ReLU()]
    if size == 28:
        g_layers.append(Crop(7))  # 8x8 -> 7x7, so that two more x2 stages give 28x28
    g_layers += [deconv(2 * dim, dim), *g_norm(dim), nn.ReLU(), deconv(dim, channels), nn.Tanh()]

    d_layers: list[nn.Module] = []
    ch, res = channels, size
    for i, out_ch in enumerate((dim, 2 * dim, 4 * dim)):
        res = (res + 1) // 2  # 'SAME' padding, stride 2: ceil(res / 2); 28 -> 14 -> 7 -> 4, 32 -> 16 -> 8 -> 4
        d_layers.append(nn.Conv2d(ch, out_ch, 5, stride=2, padding=2))
        if i > 0:  # the references never normalise the first layer
            d_layers += _critic_norm(cfg.critic_norm, out_ch, (res, res))
        d_layers.append(nn.LeakyReLU(0.2))
        ch = out_ch
    d_layers += [nn.Flatten(), nn.Linear(ch * res * res, 1)]
    return Generator(nn.Sequential(*g_layers), z_dim, cfg.data_shape), Critic(nn.Sequential(*d_layers))


def _reference_shape(name: str, size: int) -> Callable[[ModelConfig], None]:
    def check(cfg: ModelConfig) -> None:
        if len(cfg.data_shape) != 3 or tuple(cfg.data_shape[1:]) != (size, size):
            raise ValueError(f"model {name!r} is for {size}x{size} images (C, {size}, {size}), "
                             f"not data of shape {list(cfg.data_shape)}")
    return check


@register_model("wgan-gp-mnist", init="tflib", check=_reference_shape("wgan-gp-mnist", 28))
def wgan_gp_mnist_models(cfg: ModelConfig):
    """improved_wgan_training gan_mnist.py (Gulrajani et al. 2017), DIM = 64, 28x28 images.

    Critic: Conv(C->64, 5x5, stride 2, pad 2)-LeakyReLU(0.2)-Conv(64->128, 5x5, s2)-LeakyReLU-Conv(128->256, 5x5,
    s2)-LeakyReLU-Linear(4*4*256 -> 1): 1,030,145 parameters for C = 1, as the reference. Its normalisation follows
    `critic_norm`: the reference has BatchNorm after the 2nd and 3rd convs only in MODE == 'wgan' (clipping), none
    for 'wgan-gp' or 'dcgan'; 'layer' (LayerNorm over C, H, W) is not in this script.
    Generator: Linear(128 -> 4*4*256)-ReLU-Deconv(256->128, 5x5, x2: 4 -> 8)-ReLU-crop to 7x7-Deconv(128->64: 14x14)-
    ReLU-Deconv(64->C: 28x28), 1,554,177 parameters for C = 1. The reference has BatchNorm in G (after the linear
    layer and the first two deconvs) only in MODE == 'wgan', i.e. exactly when its critic has BatchNorm: here G gets
    BatchNorm exactly when critic_norm == 'batch' (the paper config's wgan), +2*4096 + 2*128 + 2*64 = 8,576
    parameters (and +2*128 + 2*256 = 768 in the critic).
    Init "default" = "tflib", the reference's (see `initialise`).

    Departures: (1) output tanh, not the reference's sigmoid, because our images are scaled to [-1, 1] (the
    reference feeds MNIST in [0, 1]); (2) PyTorch pads 'SAME' symmetrically (pad 2), TensorFlow puts the odd extra
    pixel at the bottom/right, a one-pixel alignment shift with the same shapes and parameter counts; (3) our
    BatchNorm keeps running statistics and samples in eval mode with them (sampling.py), tflib's always normalises
    with the batch's own statistics; (4) `width` overrides DIM and `z_dim` the 128 noise dimensions; any number of
    channels C (the reference has 1).
    """
    return _reference_models(cfg, 28, 64, g_batchnorm=cfg.critic_norm == "batch")


@register_model("wgan-gp-cifar", init="tflib", check=_reference_shape("wgan-gp-cifar", 32))
def wgan_gp_cifar_models(cfg: ModelConfig):
    """improved_wgan_training gan_cifar.py (Gulrajani et al. 2017), DIM = 128 (its comment: "This overfits
    substantially; you're probably better off with 64"; width: 64 gives that), 32x32 images.

    Critic: the gan_mnist.py structure at 32x32 (32 -> 16 -> 8 -> 4) with C = 3: Conv(3->128)-Conv(128->256)-
    Conv(256->512), 5x5, stride 2, LeakyReLU(0.2), Linear(4*4*512 -> 1): 4,114,689 parameters. Its normalisation
    follows `critic_norm`: the reference has BatchNorm after the 2nd and 3rd convs whenever MODE != 'wgan-gp'
    (so for both 'wgan' and 'dcgan'), +1,536 parameters.
    Generator: Linear(128 -> 4*4*512)-BN-ReLU-Deconv(512->256: 8x8)-BN-ReLU-Deconv(256->128: 16x16)-BN-ReLU-
    Deconv(128->3: 32x32)-Tanh, 5,179,907 parameters. BatchNorm in G in every mode, as the reference.
    Init "default" = "tflib", the reference's (see `initialise`).

    Departures: (1) 'SAME' padding alignment (pad 2 symmetric, see wgan-gp-mnist); (2) running-statistics BatchNorm
    at sampling time, where tflib normalises with the batch; (3) `width`/`z_dim` may override DIM / 128; any C.
    The output is tanh, as the reference's (data in [-1, 1] there too).
    """
    return _reference_models(cfg, 32, 128, g_batchnorm=True)
