"""Each loss against an independent hand computation on fixed tensors."""
import math

import pytest
import torch
from torch import nn

from gan.objectives import (OBJECTIVES, build_objective, gan_discriminator_loss, gan_generator_loss,
                            gradient_penalty, minimax_generator_loss, wasserstein_critic_loss,
                            wasserstein_generator_loss)

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.5])


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_gan_discriminator_loss_is_the_two_bce_terms():
    expected = (sum(-math.log(sigmoid(r)) for r in REAL.tolist()) / 3
                + sum(-math.log(1 - sigmoid(f)) for f in FAKE.tolist()) / 3)
    assert gan_discriminator_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_gan_losses_stay_finite_for_huge_logits():
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(gan_discriminator_loss(big, big))
    assert torch.isfinite(gan_generator_loss(big)) and torch.isfinite(minimax_generator_loss(big))
    # -log sigmoid(-1e4) = 1e4 exactly in the stable form
    assert gan_generator_loss(torch.tensor([-1e4])).item() == pytest.approx(1e4)


def test_generator_losses():
    ns = sum(-math.log(sigmoid(f)) for f in FAKE.tolist()) / 3
    mm = sum(math.log(1 - sigmoid(f)) for f in FAKE.tolist()) / 3
    assert gan_generator_loss(FAKE).item() == pytest.approx(ns, rel=1e-6)
    assert minimax_generator_loss(FAKE).item() == pytest.approx(mm, rel=1e-6)


def test_wasserstein_losses():
    assert wasserstein_critic_loss(REAL, FAKE).item() == pytest.approx(FAKE.mean() - REAL.mean())
    assert wasserstein_generator_loss(FAKE).item() == pytest.approx(-FAKE.mean().item())


@pytest.mark.parametrize("shape", [(8, 2), (4, 3, 5, 5), (4, 1, 8, 8)])
def test_gradient_penalty_of_linear_critic_is_exact(shape):
    # D(x) = w.x has gradient w everywhere, so the penalty is exactly (|w| - 1)^2 for any eps
    torch.manual_seed(0)
    dim = math.prod(shape[1:])
    linear = nn.Linear(dim, 1)
    critic = nn.Sequential(nn.Flatten(), linear)
    real, fake = torch.randn(shape), torch.randn(shape)
    expected = (linear.weight.norm() - 1) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_differentiates_wrt_critic_weights():
    linear = nn.Linear(2, 1)
    gp = gradient_penalty(linear, torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()  # needs create_graph=True: d/dw (|w|-1)^2 = 2(|w|-1) w/|w|
    w = linear.weight.detach()
    assert torch.allclose(linear.weight.grad, 2 * (w.norm() - 1) * w / w.norm(), atol=1e-6)


def test_gradient_penalty_draws_eps_per_sample():
    # critic D(x) = sum(x^2): grad = 2 x_hat, so each sample's norm depends on its own eps
    critic = lambda x: (x ** 2).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.ones(1000, 2), torch.zeros(1000, 2)
    torch.manual_seed(0)
    gp = gradient_penalty(critic, real, fake)
    # eps ~ U[0,1] per sample: E[(2 sqrt(2) eps - 1)^2] = 8/3 - 2 sqrt(2) + 1
    assert gp.item() == pytest.approx(8 / 3 - 2 * math.sqrt(2) + 1, abs=0.05)


def test_wgan_clipping_keeps_every_parameter_in_range():
    obj = build_objective("wgan")
    critic = nn.Sequential(nn.Linear(2, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.uniform_(-1, 1)
    obj.after_critic_step(critic)
    for p in critic.parameters():
        assert p.abs().max().item() <= obj.clip_value


def test_wgan_gp_refuses_batchnorm_critic_naming_the_layer():
    critic = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    with pytest.raises(ValueError, match=r"BatchNorm.*layer '1'"):
        build_objective("wgan-gp").check_critic(critic)


def test_wgan_gp_refuses_a_batchnorm_critic_from_the_settings_alone():
    """The DAG's torch-free check: critic_norm 'batch' is refused before any model is built."""
    from gan.models import ModelConfig

    with pytest.raises(ValueError, match="BatchNorm.*critic_norm 'batch'"):
        build_objective("wgan-gp").check_model(ModelConfig("dcgan", (1, 28, 28), critic_norm="batch"))
    build_objective("wgan-gp").check_model(ModelConfig("dcgan", (1, 28, 28), critic_norm="layer"))
    build_objective("wgan").check_model(ModelConfig("dcgan", (1, 28, 28), critic_norm="batch"))


def test_an_objective_with_its_own_critic_check_asks_for_a_built_critic():
    """Only a check_critic of its own makes validation build the models (torch); the built-in objectives don't."""
    assert not any(cls.needs_built_critic() for cls in OBJECTIVES.values())

    class NoDropout(OBJECTIVES["wgan"]):
        def check_critic(self, critic):
            if any(isinstance(m, nn.Dropout) for m in critic.modules()):
                raise ValueError("no dropout in the critic")

    assert NoDropout.needs_built_critic()


def test_defaults_follow_the_papers_and_are_overridable():
    assert {"gan", "gan-minimax", "wgan", "wgan-gp"} <= set(OBJECTIVES)
    wgan = build_objective("wgan")
    assert (wgan.optimizer, wgan.lr, wgan.n_critic, wgan.clip_value) == ("rmsprop", 5e-5, 5, 0.01)
    gp = build_objective("wgan-gp")
    assert (gp.optimizer, gp.lr, gp.n_critic, gp.gp_lambda) == ("adam", 1e-4, 5, 10.0)
    gan = build_objective("gan")
    assert (gan.lr, gan.betas, gan.n_critic) == (2e-4, (0.5, 0.999), 1)
    custom = build_objective("wgan-gp", gp_lambda=0.1, betas=[0.0, 0.9], lr=2e-4)
    assert (custom.gp_lambda, custom.betas, custom.lr) == (0.1, (0.0, 0.9), 2e-4)


def test_critic_boost_schedule_is_off_by_default():
    assert build_objective("wgan").critic_iterations(0) == 5
    boosted = build_objective("wgan", critic_boost=True)
    assert [boosted.critic_iterations(s) for s in (0, 24, 25, 26, 500, 501)] == [100, 100, 5, 5, 100, 5]


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "no-such-objective"}, r"unknown objective 'no-such-objective'; valid names: .*wgan-gp"),
    ({"name": "gan", "lr": -1e-4}, "lr: -0.0001 must be positive"),
    ({"name": "gan", "clip_value": 0.1}, "objective 'gan' has no hyper-parameter.* clip_value"),
    ({"name": "wgan", "optimizer": "sgdx"}, "optimizer: 'sgdx' unknown optimizer"),
    ({"name": "wgan", "n_critic": 0}, "n_critic: 0 must be positive"),
    ({"name": "wgan", "n_critic": 1.5}, "n_critic: 1.5 must be an integer"),
    ({"name": "wgan", "betas": [0.5, 0.9]}, "betas: .* optimizer 'rmsprop' has none"),
])
def test_bad_objective_settings(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        build_objective(name, **kwargs)


def test_gradient_penalty_is_computed_in_fp32_under_bf16_autocast():
    from gan.objectives import gradient_penalty

    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    real, fake = torch.randn(256, 2), torch.randn(256, 2) + 1
    torch.manual_seed(1)
    exact = gradient_penalty(critic, real, fake)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_bf16 = gradient_penalty(critic, real, fake)
    assert under_bf16.dtype == torch.float32 and torch.equal(under_bf16, exact)


def test_tf1_rmsprop_equals_the_tf1_formula_and_differs_from_pytorchs():
    """rmsprop-tf against TensorFlow 1's RMSPropOptimizer update written out by hand (ms from 1, decay 0.9,
    epsilon 1e-10 inside the root, no momentum), over a few steps with changing gradients."""
    from gan.objectives import build_optimizer

    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, dtype=torch.float64))
    ref = w.detach().clone()
    ms = torch.ones(5, dtype=torch.float64)
    lr = 5e-5
    opt = build_optimizer([w], build_objective("wgan", optimizer="rmsprop-tf"))
    for step in range(4):
        target = torch.linspace(-1, 1, 5, dtype=torch.float64) * (step + 1)
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        g = 2 * (ref - target)
        ms = 0.9 * ms + 0.1 * g * g
        ref = ref - lr * g / torch.sqrt(ms + 1e-10)
        opt.step()
        torch.testing.assert_close(w.detach(), ref, rtol=0, atol=1e-15)
    # PyTorch's RMSprop from a zero accumulator moves a small gradient far more on its first step
    small = nn.Parameter(torch.zeros(1))
    torch_opt = build_optimizer([small], build_objective("wgan", optimizer="rmsprop"))
    small.grad = torch.full((1,), 1e-3)
    torch_opt.step()
    tf_step = lr * 1e-3 / math.sqrt(0.9 + 0.1 * 1e-6)
    assert abs(small.item()) > 100 * tf_step
