"""The objectives, as the papers define them.

D outputs a logit (GAN) or an unbounded critic value (WGAN). Arguments always go (real, fake).

| objective     | critic / discriminator loss                         | generator loss             | after a critic step |
|---------------|-----------------------------------------------------|----------------------------|---------------------|
| `gan`         | BCE(D(x), 1) + BCE(D(G(z)), 0)                      | BCE(D(G(z)), 1)            | -                   |
| `gan-minimax` | same                                                | log(1 - sigmoid(D(G(z))))  | -                   |
| `wgan`        | mean D(G(z)) - mean D(x)                            | -mean D(G(z))              | clamp to [-c, c]    |
| `wgan-gp`     | mean D(G(z)) - mean D(x) + lambda (|grad D(x^)|-1)^2 | -mean D(G(z))              | -                   |

The registrations (names, hyper-parameters, their checks, what critics an objective refuses) import without
torch, so the DAG validates a config without it; torch is imported where a loss is computed or a model checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from .models import critic_mixes_samples

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .models import ModelConfig

# --- the losses, as pure functions of critic outputs ---------------------------------------------------------


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. (2014), Eq. 1, maximised by D; written as the sum of two BCE terms on logits.

    binary_cross_entropy_with_logits is the stable form max(x, 0) - x*t + log(1 + exp(-|x|)).
    """
    import torch
    import torch.nn.functional as F

    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def gan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log sigmoid(D(G(z))) (the paper's practical recommendation)."""
    import torch
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss log(1 - sigmoid(D(G(z)))); saturates when D rejects G's samples.

    log(1 - sigmoid(x)) = -softplus(x), which stays finite for any logit.
    """
    import torch.nn.functional as F

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
    import torch

    real, fake = real.float(), fake.float()
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    # in fp32 even under bf16 autocast: the penalty is a difference of a gradient norm from 1, which bf16's
    # 8-bit mantissa (about 2 significant digits) cannot resolve
    with torch.autocast(device_type=real.device.type, enabled=False):
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


@dataclass(frozen=True)
class Display:
    """How the report draws an objective: its colour, its marker, and its place in tables and legends (lower
    first). None: the report's fallback (a colour and marker chosen from the name; after the ordered ones,
    alphabetically)."""
    colour: str | None = None
    marker: str | None = None
    order: float | None = None


def register_objective(cls: type["Objective"]) -> type["Objective"]:
    if "__dataclass_fields__" not in cls.__dict__:  # hyper-parameters are fields whether or not it was decorated
        cls = dataclass(cls)
    if "display" not in cls.__dict__:  # a subclass is drawn as itself, not in its parent's colour
        cls.display = Display()
    OBJECTIVES[cls.name] = cls
    return cls


def objective_display(name: str) -> Display:
    """The registered display of an objective (an entry name that is no registered objective: the fallback)."""
    cls = OBJECTIVES.get(name)
    return cls.display if cls is not None else Display()


def hyperparameter(default: Any, help: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """A hyper-parameter of an objective: a dataclass field with its default, a help text and a check.

    `check(value)` returns an error text (what is wrong) or None. The CLI flags, config validation and MLflow
    params all read these fields; an objective with a parameter of its own just declares one more.
    """
    return field(default=default, metadata={"help": help, "check": check})


def positive(value) -> str | None:
    return None if value > 0 else "must be positive"


def non_negative(value) -> str | None:
    return None if value >= 0 else "must be non-negative"


def _betas(value) -> str | None:
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1
                                  for b in value):
        return "must be two numbers in [0, 1)"
    return None


OPTIMIZER_HELP = ("optimiser of G and D: adam, rmsprop (PyTorch's, as the WGAN paper's main.py) or rmsprop-tf "
                  "(TensorFlow 1's, as the WGAN-GP paper's reference scripts)")


def _optimizer(value) -> str | None:
    return None if value in OPTIMIZERS else f"unknown optimizer; valid: {', '.join(sorted(OPTIMIZERS))}"


@dataclass
class Objective:
    """One objective: its losses, what happens after each critic step, and its hyper-parameters (the fields,
    with the paper's defaults; all overridable)."""
    name: ClassVar[str]
    #: the penalty differentiates through the critic's gradient; torch.compile cannot trace that double backward
    double_backward: ClassVar[bool] = False
    #: the loss needs a critic that scores each sample on its own (a per-sample penalty): a critic that mixes the
    #: samples of a batch (BatchNorm) is refused, from the model settings at DAG build and from the built critic
    per_sample_critic: ClassVar[bool] = False
    #: colour, marker and order in the report, declared by each registration (`Display`; the built-in objectives
    #: use Okabe-Ito colours, which stay apart for colour-blind readers)
    display: ClassVar[Display] = Display()
    optimizer: str = hyperparameter("adam", OPTIMIZER_HELP, _optimizer)
    lr: float = hyperparameter(2e-4, "learning rate of G and D", positive)
    betas: tuple[float, float] | None = hyperparameter((0.5, 0.999), "Adam's (beta1, beta2); adam only", _betas)
    n_critic: int = hyperparameter(1, "critic updates per generator update", positive)

    def critic_step(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> CriticStep:
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_critic_step(self, critic: nn.Module) -> None:
        """Hook run after each critic optimiser step (weight clipping for WGAN)."""

    def check_model(self, model: ModelConfig) -> None:
        """Refuse model settings the objective is not defined for, without building the model (no torch)."""
        if self.per_sample_critic and critic_mixes_samples(model):
            raise ValueError(f"objective {self.name!r} cannot use a critic with BatchNorm (critic_norm "
                             f"{model.critic_norm!r}); use critic_norm 'layer' or 'none'")

    def check_critic(self, critic: nn.Module) -> None:
        """Refuse critic architectures the objective is not defined for (the built critic).

        An objective that overrides this has a check only a built critic can answer: the DAG then builds the models
        (on the meta device) to run it (`needs_built_critic`).
        """
        if not self.per_sample_critic:
            return
        from torch import nn

        # the penalty is per sample; BatchNorm mixes samples of a batch and makes it meaningless
        for name, module in critic.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                raise ValueError(
                    f"objective {self.name!r} cannot use a critic with BatchNorm (layer {name!r}: "
                    f"{type(module).__name__}); use critic_norm 'layer' or 'none'")

    @classmethod
    def needs_built_critic(cls) -> bool:
        """Whether validating a model for this objective needs the built critic (torch), not only its settings."""
        return cls.check_critic is not Objective.check_critic

    def critic_iterations(self, generator_step: int) -> int:
        """Critic updates before generator update number `generator_step` (0-based)."""
        return self.n_critic

    def hyperparameters(self) -> dict[str, Any]:
        """Every hyper-parameter as resolved (what configs, summaries and MLflow record); None = not applicable."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

@register_objective
@dataclass
class NonSaturatingGAN(Objective):
    name: ClassVar[str] = "gan"
    display: ClassVar[Display] = Display(colour="#0072B2", marker="o", order=0)

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        return CriticStep(gan_discriminator_loss(real_scores, fake_scores), real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        return gan_generator_loss(fake_scores)


@register_objective
@dataclass
class MinimaxGAN(NonSaturatingGAN):
    name: ClassVar[str] = "gan-minimax"
    display: ClassVar[Display] = Display(colour="#CC79A7", marker="v", order=1)

    def generator_loss(self, fake_scores):
        return minimax_generator_loss(fake_scores)


@register_objective
@dataclass
class WGAN(Objective):
    """Weight clipping. Defaults are the WGAN paper's: RMSProp, lr 5e-5, c = 0.01, n_critic = 5."""
    name: ClassVar[str] = "wgan"
    display: ClassVar[Display] = Display(colour="#E69F00", marker="s", order=2)
    optimizer: str = hyperparameter("rmsprop", OPTIMIZER_HELP, _optimizer)
    lr: float = hyperparameter(5e-5, "learning rate of G and D", positive)
    betas: tuple[float, float] | None = hyperparameter(None, "Adam's (beta1, beta2); adam only", _betas)
    n_critic: int = hyperparameter(5, "critic updates per generator update", positive)
    clip_value: float = hyperparameter(0.01, "weight clipping bound c: every critic parameter in [-c, c]", positive)
    # WGAN reference code: 100 critic iterations for the first 25 generator iterations and every 500th
    critic_boost: bool = hyperparameter(False, "the reference code's 100 critic updates for the first 25 and "
                                               "every 500th generator iteration")

    def critic_iterations(self, generator_step: int) -> int:
        if self.critic_boost and (generator_step < 25 or generator_step % 500 == 0):
            return 100
        return self.n_critic

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        loss = wasserstein_critic_loss(real_scores, fake_scores)
        return CriticStep(loss, real_scores, fake_scores, wasserstein=-loss.detach())

    def generator_loss(self, fake_scores):
        return wasserstein_generator_loss(fake_scores)

    def after_critic_step(self, critic):
        import torch

        # every parameter, norm-layer weights included, as in the reference code
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-self.clip_value, self.clip_value)


@register_objective
@dataclass
class WGANGP(Objective):
    """Gradient penalty. Defaults follow the reference DCGAN-like scripts: Adam(1e-4, (0.5, 0.9)), lambda 10.

    (The paper's Algorithm 1 says betas (0, 0.9); configs may override.)
    """
    name: ClassVar[str] = "wgan-gp"
    display: ClassVar[Display] = Display(colour="#009E73", marker="D", order=3)
    double_backward: ClassVar[bool] = True
    per_sample_critic: ClassVar[bool] = True
    lr: float = hyperparameter(1e-4, "learning rate of G and D", positive)
    betas: tuple[float, float] | None = hyperparameter((0.5, 0.9), "Adam's (beta1, beta2); adam only", _betas)
    n_critic: int = hyperparameter(5, "critic updates per generator update", positive)
    gp_lambda: float = hyperparameter(10.0, "gradient-penalty weight lambda", non_negative)

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        distance = wasserstein_critic_loss(real_scores, fake_scores)
        penalty = gradient_penalty(critic, real, fake)
        return CriticStep(distance + self.gp_lambda * penalty, real_scores, fake_scores,
                          wasserstein=-distance.detach(), penalty=penalty.detach())

    def generator_loss(self, fake_scores):
        return wasserstein_generator_loss(fake_scores)


def build_objective(name: str, **overrides) -> Objective:
    """The objective `name` with its paper defaults, each overridable (None means keep the default).

    Every error names the hyper-parameter and the value.
    """
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid names: {', '.join(sorted(OBJECTIVES))}")
    cls = OBJECTIVES[name]
    declared = {f.name: f for f in fields(cls)}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(f"objective {name!r} has no hyper-parameter(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(declared)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    for key, value in given.items():
        error = _type_error(declared[key], value)
        if error:
            raise ValueError(f"{key}: {value!r} {error}")
    if isinstance(given.get("betas"), (list, tuple)):
        given["betas"] = tuple(float(b) for b in given["betas"])
    objective = cls(**given)
    # betas belong to Adam: recorded only when Adam runs (torch's own default when an RMSProp objective switches)
    if objective.optimizer == "adam" and objective.betas is None:
        objective.betas = (0.9, 0.999)
    elif objective.optimizer != "adam":
        if "betas" in given:
            raise ValueError(f"betas: {list(given['betas'])} given, but optimizer {objective.optimizer!r} has none")
        objective.betas = None
    for f in fields(objective):
        check = f.metadata.get("check")
        value = getattr(objective, f.name)
        error = check(value) if check and value is not None else None
        if error:
            raise ValueError(f"{f.name}: {value!r} {error}")
    return objective


def _type_error(f, value) -> str | None:
    """What is wrong with the type of `value` for field `f` (from its annotation), or None."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind.startswith("bool"):
        return None if isinstance(value, bool) else "must be true or false"
    if kind.startswith("int"):
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if kind.startswith("float"):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "must be a number"
    if kind.startswith("str"):
        return None if isinstance(value, str) else "must be a string"
    if kind.startswith("tuple"):
        return None if isinstance(value, (list, tuple)) else "must be a list"
    return None


def hyperparameter_fields() -> dict[str, dict[str, Any]]:
    """Every hyper-parameter any registered objective declares: {name: {type, help, objectives: [...]}}."""
    out: dict[str, dict[str, Any]] = {}
    for objective_name, cls in OBJECTIVES.items():
        for f in fields(cls):
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            entry = out.setdefault(f.name, {"type": kind, "help": f.metadata.get("help", ""),
                                            "objectives": []})
            entry["objectives"].append(objective_name)
    return out


def _adam(params, obj: Objective):
    import torch

    return torch.optim.Adam(params, lr=obj.lr, betas=tuple(obj.betas))


def _rmsprop(params, obj: Objective):
    import torch

    return torch.optim.RMSprop(params, lr=obj.lr)  # no momentum, as in the WGAN paper's main.py


def _rmsprop_tf(params, obj: Objective):
    from gan.optim import TFRMSprop

    return TFRMSprop(params, lr=obj.lr)  # TF1's, as the WGAN-GP paper's reference scripts


#: rmsprop: PyTorch's (WassersteinGAN main.py); rmsprop-tf: TensorFlow 1's (gan_toy.py, gan_mnist.py, gan_cifar.py)
OPTIMIZERS = {"adam": _adam, "rmsprop": _rmsprop, "rmsprop-tf": _rmsprop_tf}


def build_optimizer(params, objective: Objective) -> torch.optim.Optimizer:
    return OPTIMIZERS[objective.optimizer](params, objective)
