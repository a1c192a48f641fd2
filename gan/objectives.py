"""The objectives, as the papers define them.

D outputs a logit (GAN) or an unbounded critic value (WGAN). Arguments always go (real, fake).

| objective     | critic / discriminator loss                         | generator loss             | after a critic step |
|---------------|-----------------------------------------------------|----------------------------|---------------------|
| `gan`         | BCE(D(x), 1) + BCE(D(G(z)), 0)                      | BCE(D(G(z)), 1)            | -                   |
| `gan-minimax` | same                                                | log(1 - sigmoid(D(G(z))))  | -                   |
| `wgan`        | mean D(G(z)) - mean D(x)                            | -mean D(G(z))              | clamp to [-c, c]    |
| `wgan-gp`     | mean D(G(z)) - mean D(x) + lambda (|grad D(x^)|-1)^2 | -mean D(G(z))              | -                   |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

# --- the losses, as pure functions of critic outputs ---------------------------------------------------------


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. (2014), Eq. 1, maximised by D; written as the sum of two BCE terms on logits.

    binary_cross_entropy_with_logits is the stable form max(x, 0) - x*t + log(1 + exp(-|x|)).
    """
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def gan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log sigmoid(D(G(z))) (the paper's practical recommendation)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss log(1 - sigmoid(D(G(z)))); saturates when D rejects G's samples.

    log(1 - sigmoid(x)) = -softplus(x), which stays finite for any logit.
    """
    return -F.softplus(fake_logits).mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Arjovsky et al. (2017): the critic maximises mean D(x) - mean D(G(z)); we minimise the negative."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. (2017), Algorithm 1: mean over the batch of (||grad_x^ D(x^)||_2 - 1)^2.

    x^ = eps x + (1 - eps) G(z) with eps ~ U[0, 1] drawn per sample; the norm runs over every non-batch
    dimension, whatever the data's shape; create_graph=True so the penalty is differentiated w.r.t. D's weights.
    """
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(start_dim=1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


# --- objectives: loss pair + what happens after a critic step + the paper's defaults -------------------------


@dataclass
class CriticStep:
    """What one critic step computed: the loss to minimise and what metrics.csv records."""
    loss: torch.Tensor
    real_scores: torch.Tensor
    fake_scores: torch.Tensor
    wasserstein: torch.Tensor | None = None  # -(critic loss without penalty)
    penalty: torch.Tensor | None = None


OBJECTIVES: dict[str, type["Objective"]] = {}


def register_objective(cls: type["Objective"]) -> type["Objective"]:
    OBJECTIVES[cls.name] = cls
    return cls


@dataclass
class Objective:
    """One objective: its losses, what happens after each critic step, and its defaults (all overridable)."""
    name: ClassVar[str]
    optimizer: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    # WGAN reference code: 100 critic iterations for the first 25 generator iterations and every 500th
    critic_boost: bool = False
    clip_value: float | None = None
    gp_lambda: float | None = None
    # names of the hyper-parameters this objective reads (validation rejects the others)
    extra_params: ClassVar[tuple[str, ...]] = ()

    def critic_step(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> CriticStep:
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_critic_step(self, critic: nn.Module) -> None:
        """Hook run after each critic optimiser step (weight clipping for WGAN)."""

    def check_critic(self, critic: nn.Module) -> None:
        """Refuse critic architectures the objective is not defined for."""

    def critic_iterations(self, generator_step: int) -> int:
        """Critic updates before generator update number `generator_step` (0-based)."""
        if self.critic_boost and (generator_step < 25 or generator_step % 500 == 0):
            return 100
        return self.n_critic

    def hyperparameters(self) -> dict:
        return {"optimizer": self.optimizer, "lr": self.lr, "betas": list(self.betas), "n_critic": self.n_critic,
                "critic_boost": self.critic_boost, "clip_value": self.clip_value, "gp_lambda": self.gp_lambda}


@register_objective
@dataclass
class NonSaturatingGAN(Objective):
    name: ClassVar[str] = "gan"

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        return CriticStep(gan_discriminator_loss(real_scores, fake_scores), real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        return gan_generator_loss(fake_scores)


@register_objective
@dataclass
class MinimaxGAN(NonSaturatingGAN):
    name: ClassVar[str] = "gan-minimax"

    def generator_loss(self, fake_scores):
        return minimax_generator_loss(fake_scores)


@register_objective
@dataclass
class WGAN(Objective):
    """Weight clipping. Defaults are the WGAN paper's: RMSProp, lr 5e-5, c = 0.01, n_critic = 5."""
    name: ClassVar[str] = "wgan"
    optimizer: str = "rmsprop"
    lr: float = 5e-5
    betas: tuple[float, float] = (0.0, 0.0)  # unused by RMSProp (no momentum)
    n_critic: int = 5
    clip_value: float | None = 0.01
    extra_params: ClassVar[tuple[str, ...]] = ("clip_value",)

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        loss = wasserstein_critic_loss(real_scores, fake_scores)
        return CriticStep(loss, real_scores, fake_scores, wasserstein=-loss.detach())

    def generator_loss(self, fake_scores):
        return wasserstein_generator_loss(fake_scores)

    @torch.no_grad()
    def after_critic_step(self, critic):
        # every parameter, norm-layer weights included, as in the reference code
        for p in critic.parameters():
            p.clamp_(-self.clip_value, self.clip_value)


@register_objective
@dataclass
class WGANGP(Objective):
    """Gradient penalty. Defaults follow the reference DCGAN-like scripts: Adam(1e-4, (0.5, 0.9)), lambda 10.

    (The paper's Algorithm 1 says betas (0, 0.9); configs may override.)
    """
    name: ClassVar[str] = "wgan-gp"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 5
    gp_lambda: float | None = 10.0
    extra_params: ClassVar[tuple[str, ...]] = ("gp_lambda",)

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        distance = wasserstein_critic_loss(real_scores, fake_scores)
        penalty = gradient_penalty(critic, real, fake)
        return CriticStep(distance + self.gp_lambda * penalty, real_scores, fake_scores,
                          wasserstein=-distance.detach(), penalty=penalty.detach())

    def generator_loss(self, fake_scores):
        return wasserstein_generator_loss(fake_scores)

    def check_critic(self, critic):
        # the penalty is per sample; BatchNorm mixes samples of a batch and makes it meaningless
        for name, module in critic.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                raise ValueError(
                    f"objective 'wgan-gp' cannot use a critic with BatchNorm (layer {name!r}: "
                    f"{type(module).__name__}); use critic_norm 'layer' or 'none'")


def build_objective(name: str, **overrides) -> Objective:
    """The objective `name` with its paper defaults, each overridable (None means keep the default)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid names: {', '.join(sorted(OBJECTIVES))}")
    cls = OBJECTIVES[name]
    known = {"optimizer", "lr", "betas", "n_critic", "critic_boost", "clip_value", "gp_lambda"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown objective hyper-parameter(s) {sorted(unknown)}; valid: {sorted(known)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    for key in ("clip_value", "gp_lambda"):
        if key in given and key not in cls.extra_params:
            raise ValueError(f"hyper-parameter {key!r} does not apply to objective {name!r}")
    if "betas" in given:
        given["betas"] = tuple(float(b) for b in given["betas"])
    objective = cls(**given)
    _validate(objective)
    return objective


def _validate(obj: Objective) -> None:
    if obj.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {obj.optimizer!r}; valid: {', '.join(sorted(OPTIMIZERS))}")
    for key in ("lr", "clip_value", "gp_lambda"):
        value = getattr(obj, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{key} must be a number, got {value!r}")
    if not obj.lr > 0:
        raise ValueError(f"lr must be positive, got {obj.lr}")
    if not (isinstance(obj.n_critic, int) and obj.n_critic >= 1):
        raise ValueError(f"n_critic must be a positive integer, got {obj.n_critic!r}")
    if len(obj.betas) != 2 or not all(0 <= b < 1 for b in obj.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {list(obj.betas)}")
    if obj.clip_value is not None and not obj.clip_value > 0:
        raise ValueError(f"clip_value must be positive, got {obj.clip_value}")
    if obj.gp_lambda is not None and not obj.gp_lambda >= 0:
        raise ValueError(f"gp_lambda must be non-negative, got {obj.gp_lambda}")


def _adam(params, obj: Objective):
    return torch.optim.Adam(params, lr=obj.lr, betas=obj.betas)


def _rmsprop(params, obj: Objective):
    return torch.optim.RMSprop(params, lr=obj.lr)  # no momentum, as in the WGAN paper


OPTIMIZERS = {"adam": _adam, "rmsprop": _rmsprop}


def build_optimizer(params, objective: Objective) -> torch.optim.Optimizer:
    return OPTIMIZERS[objective.optimizer](params, objective)
