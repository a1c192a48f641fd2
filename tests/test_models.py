import math
from pathlib import Path

import pytest
import torch
import yaml

from gan.config import ConfigError, TrainConfig, resolve
from gan.models import (CRITIC_NORMS, MODEL_CHECKS, MODEL_INITS, MODELS, ModelConfig, build_models, check_model,
                        critic_mixes_samples, register_model, resolved_init)


@pytest.mark.parametrize("name, shape", [("toy", (2,)), ("mlp", (1, 8, 8)), ("mlp", (3, 32, 32)),
                                         ("dcgan", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("dcgan", (1, 8, 8))])
@pytest.mark.parametrize("norm", ["none", "layer"])
def test_shapes_follow_the_data(name, shape, norm):
    g, d = build_models(ModelConfig(name=name, data_shape=shape, critic_norm=norm))
    z = torch.randn(4, g.z_dim)
    x = g(z)
    assert x.shape == (4, *shape)
    assert d(x).shape == (4,)
    if name != "toy":
        assert x.min() >= -1 and x.max() <= 1  # tanh output matches data scaled to [-1, 1]


def test_toy_architecture_is_the_reference_one():
    g, d = build_models(ModelConfig(name="toy", data_shape=(2,)))
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [512, 512, 512, 1] and g.z_dim == 2


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: ") as err:
        build_models(ModelConfig(name="resnet", data_shape=(2,)))
    assert all(name in str(err.value) for name in MODELS)


def test_resolve_rejects_batchnorm_critic_for_wgan_gp():
    with pytest.raises(ConfigError, match="BatchNorm"):
        resolve(TrainConfig(dataset="cifar10", objective="wgan-gp", model="dcgan", critic_norm="batch"))
    # the same critic is fine for the non-saturating GAN
    assert resolve(TrainConfig(dataset="cifar10", objective="gan", model="dcgan", critic_norm="batch"))


def _builds_and_runs(cfg: ModelConfig):
    """The registered builder alone (no check), then a forward pass: the critic, or None where that fails."""
    try:
        g, d = MODELS[cfg.name](cfg)
        fake = g(torch.randn(2, g.z_dim))
        assert fake.shape == (2, *cfg.data_shape) and d(fake).shape == (2,)
        return d
    except Exception:  # whatever a builder does with a shape it was not written for
        return None


SHAPES = [(2,), (3,), (1, 8, 8), (1, 12, 12), (1, 16, 16), (1, 28, 28), (3, 32, 32), (1, 6, 6), (1, 28, 32)]


@pytest.mark.parametrize("name", sorted(n for n, check in MODEL_CHECKS.items() if check is not None))
def test_declared_checks_agree_with_the_builders(name):
    """What the DAG validates without torch is what building says: a model's check accepts exactly the shapes its
    builder makes a working G and critic for, and the critic has BatchNorm only where critic_norm asks for it."""
    for shape in SHAPES:
        for norm in CRITIC_NORMS:
            cfg = ModelConfig(name=name, data_shape=shape, width=4, critic_norm=norm)
            try:
                check_model(cfg)
                accepted = True
            except ValueError:
                accepted = False
            critic = _builds_and_runs(cfg)
            assert accepted == (critic is not None), (name, shape, norm)
            if critic is not None and not critic_mixes_samples(cfg):
                assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


def test_a_model_without_a_declared_check_is_built_to_validate_it():
    """A plugin model that declares no check is built (on the meta device) even by the DAG's torch-free
    validation, so a critic with BatchNorm it always has is still refused for WGAN-GP."""
    @register_model("always-bn")
    def always_bn(cfg):
        from torch import nn

        from gan.nets import Critic, Generator
        return (Generator(nn.Linear(2, 2), 2, cfg.data_shape),
                Critic(nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))))

    try:
        cfg = TrainConfig(dataset="8gaussians", objective="wgan-gp", model="always-bn")
        with pytest.raises(ConfigError, match="BatchNorm"):
            resolve(cfg, build=False)
        assert resolve(TrainConfig(dataset="8gaussians", objective="wgan", model="always-bn"), build=False)
    finally:
        for registry in (MODELS, MODEL_CHECKS, MODEL_INITS):
            registry.pop("always-bn")


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Parameter counts of improved_wgan_training's models, by hand from the layer lists of gan_mnist.py (DIM 64) and
# gan_cifar.py (DIM 128): conv k x k = in*out*k*k + out biases; linear = in*out + out; BatchNorm = 2 per channel
# (tflib's offset and scale). 5x5 kernels everywhere; the critic's last conv output is 4x4x4DIM.
MNIST_CRITIC = (1 * 64 * 25 + 64) + (64 * 128 * 25 + 128) + (128 * 256 * 25 + 256) + (4 * 4 * 256 + 1)
MNIST_CRITIC_BN = MNIST_CRITIC + 2 * 128 + 2 * 256  # MODE == 'wgan': Discriminator.BN2, BN3
MNIST_G = (128 * 4 * 4 * 256 + 4 * 4 * 256) + (256 * 128 * 25 + 128) + (128 * 64 * 25 + 64) + (64 * 1 * 25 + 1)
MNIST_G_BN = MNIST_G + 2 * 4 * 4 * 256 + 2 * 128 + 2 * 64  # MODE == 'wgan': Generator.BN1 (per feature), BN2, BN3
CIFAR_CRITIC = (3 * 128 * 25 + 128) + (128 * 256 * 25 + 256) + (256 * 512 * 25 + 512) + (4 * 4 * 512 + 1)
CIFAR_CRITIC_BN = CIFAR_CRITIC + 2 * 256 + 2 * 512  # MODE != 'wgan-gp'
CIFAR_G = ((128 * 4 * 4 * 512 + 4 * 4 * 512) + 2 * 4 * 4 * 512 + (512 * 256 * 25 + 256) + 2 * 256
           + (256 * 128 * 25 + 128) + 2 * 128 + (128 * 3 * 25 + 3))  # BatchNorm in G in every mode


def test_reference_counts_written_out():
    # the numbers the docstrings and the config quote ("about 1.0M" in the reference discussion)
    assert (MNIST_CRITIC, MNIST_G, CIFAR_CRITIC, CIFAR_G) == (1_030_145, 1_554_177, 4_114_689, 5_179_907)


@pytest.mark.parametrize("name, shape, norm, g_count, d_count", [
    ("wgan-gp-mnist", (1, 28, 28), "none", MNIST_G, MNIST_CRITIC),
    ("wgan-gp-mnist", (1, 28, 28), "batch", MNIST_G_BN, MNIST_CRITIC_BN),
    ("wgan-gp-cifar", (3, 32, 32), "none", CIFAR_G, CIFAR_CRITIC),
    ("wgan-gp-cifar", (3, 32, 32), "batch", CIFAR_G, CIFAR_CRITIC_BN),
])
def test_reference_models_match_the_reference_counts_and_run(name, shape, norm, g_count, d_count):
    g, d = build_models(ModelConfig(name=name, data_shape=shape, critic_norm=norm))
    assert (n_params(g), n_params(d)) == (g_count, d_count)
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert has_bn == (norm == "batch")
    assert g.z_dim == 128
    x = torch.rand(2, *shape) * 2 - 1
    assert d(x).shape == (2,)
    fake = g(torch.randn(2, g.z_dim))
    assert fake.shape == (2, *shape) and fake.min() >= -1 and fake.max() <= 1  # tanh (reference MNIST: sigmoid)
    assert d(fake).shape == (2,)


def test_reference_critic_with_layer_norm_runs():
    g, d = build_models(ModelConfig(name="wgan-gp-mnist", data_shape=(1, 28, 28), critic_norm="layer"))
    assert any(isinstance(m, torch.nn.LayerNorm) for m in d.modules())
    assert d(g(torch.randn(2, g.z_dim))).shape == (2,)


def test_reference_models_refuse_other_sizes():
    with pytest.raises(ValueError, match="28x28"):
        build_models(ModelConfig(name="wgan-gp-mnist", data_shape=(3, 32, 32)))
    with pytest.raises(ValueError, match="32x32"):
        build_models(ModelConfig(name="wgan-gp-cifar", data_shape=(1, 28, 28)))


def _weights(net, kind):
    return [m.weight for m in net.modules() if isinstance(m, kind)]


def test_dcgan_init_is_normal_0_02():
    torch.manual_seed(0)
    g, d = build_models(ModelConfig(name="wgan-gp-cifar", data_shape=(3, 32, 32), critic_norm="batch", init="dcgan"))
    convs = _weights(g, torch.nn.ConvTranspose2d) + _weights(d, torch.nn.Conv2d)
    stds = [w.std().item() for w in convs]
    assert all(abs(s - 0.02) < 0.002 for s in stds), stds
    assert all(abs(w.mean().item()) < 0.002 for w in convs)
    bn = _weights(g, torch.nn.modules.batchnorm._BatchNorm) + _weights(d, torch.nn.modules.batchnorm._BatchNorm)
    assert bn and all(abs(w.mean().item() - 1) < 0.01 and 0.01 < w.std().item() < 0.03 for w in bn)
    biases = [m.bias for m in [*g.modules(), *d.modules()] if getattr(m, "bias", None) is not None]
    assert all(torch.all(b == 0) for b in biases)
    # PyTorch's default on the same model is not N(0, 0.02): the setting is what changes the weights
    _, d0 = build_models(ModelConfig(name="wgan-gp-cifar", data_shape=(3, 32, 32), init="pytorch"))
    assert abs(_weights(d0, torch.nn.Conv2d)[1].std().item() - 0.02) > 0.002


def test_reference_models_default_to_the_tflib_init():
    """tflib conv2d.py (he_init): std sqrt(4 / (in*k^2 + out*k^2/stride^2)), uniform; linear.py: Glorot."""
    cfg = ModelConfig(name="wgan-gp-mnist", data_shape=(1, 28, 28))
    assert resolved_init(cfg) == "tflib"
    assert resolved_init(ModelConfig(name="dcgan", data_shape=(1, 28, 28))) == "pytorch"
    torch.manual_seed(0)
    g, d = build_models(cfg)
    conv3 = _weights(d, torch.nn.Conv2d)[2]  # 128 -> 256, 5x5, stride 2
    std = math.sqrt(4 / (128 * 25 + 256 * 25 / 4))
    assert conv3.std().item() == pytest.approx(std, rel=0.02)
    assert conv3.abs().max().item() <= std * math.sqrt(3)  # uniform on [-std*sqrt(3), std*sqrt(3)]
    deconv = _weights(g, torch.nn.ConvTranspose2d)[0]  # 256 -> 128, 5x5, x2
    assert deconv.std().item() == pytest.approx(math.sqrt(4 / (256 * 25 / 4 + 128 * 25)), rel=0.02)
    out = _weights(d, torch.nn.Linear)[0]  # 4096 -> 1, Glorot
    assert out.std().item() == pytest.approx(math.sqrt(2 / (4096 + 1)), rel=0.05)
    assert all(torch.all(m.bias == 0) for m in [*g.modules(), *d.modules()] if getattr(m, "bias", None) is not None)


def test_toy_tflib_he_init_is_gan_toy_py():
    """gan_toy.py's ReLULayer: tflib linear 'he', uniform with std sqrt(2 / fan_in), on every hidden layer; its
    output layer keeps linear.py's Glorot, sqrt(2 / (in + out)); every bias 0."""
    torch.manual_seed(0)
    g, d = build_models(ModelConfig(name="toy", data_shape=(2,), width=512, init="tflib-he"))
    for net, n_out in ((g, 2), (d, 1)):
        w = _weights(net, torch.nn.Linear)
        assert [tuple(x.shape) for x in w] == [(512, 2), (512, 512), (512, 512), (n_out, 512)]
        for hidden in w[1:3]:
            assert hidden.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)
            assert hidden.abs().max().item() <= math.sqrt(2 / 512) * math.sqrt(3)
        assert w[0].abs().max().item() <= math.sqrt(2 / 2) * math.sqrt(3)
        assert w[0].std().item() == pytest.approx(1.0, rel=0.1)  # sqrt(2 / 2): 1,024 draws
        assert w[3].std().item() == pytest.approx(math.sqrt(2 / (512 + n_out)), rel=0.15)
        assert all(torch.all(m.bias == 0) for m in net.modules() if getattr(m, "bias", None) is not None)


def test_init_is_recorded_and_old_model_configs_still_load():
    cfg = ModelConfig(name="wgan-gp-mnist", data_shape=(1, 28, 28), init="dcgan")
    assert cfg.to_dict()["init"] == "dcgan"
    old = {k: v for k, v in ModelConfig(name="dcgan", data_shape=(1, 28, 28)).to_dict().items() if k != "init"}
    rebuilt = ModelConfig(**{**old, "data_shape": tuple(old["data_shape"])})  # as gan.checkpoint rebuilds it
    assert rebuilt.init == "default" and resolved_init(rebuilt) == "pytorch"
    build_models(rebuilt)
    with pytest.raises(ValueError, match="unknown init"):
        build_models(ModelConfig(name="toy", data_shape=(2,), init="xavier"))
    # a training setting like the other model keys, validated when the run is resolved
    assert TrainConfig(dataset="mnist", objective="wgan", init="dcgan").model_config().init == "dcgan"
    with pytest.raises(ConfigError, match="unknown init"):
        resolve(TrainConfig(dataset="mnist", objective="wgan", model="wgan-gp-mnist", init="xavier"))


def test_resolve_rejects_batchnorm_in_the_reference_critic_for_wgan_gp():
    with pytest.raises(ConfigError, match="BatchNorm"):
        resolve(TrainConfig(dataset="mnist", objective="wgan-gp", model="wgan-gp-mnist", critic_norm="batch"))
    with pytest.raises(ConfigError, match="BatchNorm"):
        resolve(TrainConfig(dataset="cifar10", objective="wgan-gp", model="wgan-gp-cifar", critic_norm="batch"))
    assert resolve(TrainConfig(dataset="mnist", objective="wgan", model="wgan-gp-mnist", critic_norm="batch"))


def test_paper_config_validates_and_uses_the_reference_models():
    from gan.grid import BenchmarkGrid

    with open(Path(__file__).resolve().parents[1] / "config" / "config.yaml") as f:
        grid = BenchmarkGrid(yaml.safe_load(f))  # resolves (and builds) every run's models
    expected = {"mnist": ("wgan-gp-mnist", MNIST_CRITIC, MNIST_CRITIC_BN, {"wgan"}),
                "fashion_mnist": ("wgan-gp-mnist", MNIST_CRITIC, MNIST_CRITIC_BN, {"wgan"}),
                "cifar10": ("wgan-gp-cifar", CIFAR_CRITIC, CIFAR_CRITIC_BN, {"wgan", "gan"})}
    for dataset, (model, plain, with_bn, bn_objectives) in expected.items():
        for objective in ("gan", "wgan", "wgan-gp"):
            cfg = resolve(grid.train_config(dataset, objective, 0), build=False)
            assert cfg.model == model
            assert cfg.critic_norm == ("batch" if objective in bn_objectives else "none"), (dataset, objective)
            _, critic = build_models(cfg.model_config())
            assert n_params(critic) == (with_bn if objective in bn_objectives else plain), (dataset, objective)
