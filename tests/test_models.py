import pytest
import torch

from gan.config import ConfigError, TrainConfig, resolve
from gan.models import ModelConfig, build_models


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
    with pytest.raises(ValueError, match="valid names: dcgan, mlp, toy"):
        build_models(ModelConfig(name="resnet", data_shape=(2,)))


def test_resolve_rejects_batchnorm_critic_for_wgan_gp():
    with pytest.raises(ConfigError, match="BatchNorm"):
        resolve(TrainConfig(dataset="cifar10", objective="wgan-gp", model="dcgan", critic_norm="batch"))
    # the same critic is fine for the non-saturating GAN
    assert resolve(TrainConfig(dataset="cifar10", objective="gan", model="dcgan", critic_norm="batch"))
