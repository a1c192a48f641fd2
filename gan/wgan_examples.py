"""The papers' small analytic experiments, each a stage of its own (workflow/rules/papers.smk):

- **WGAN Example 1 / Figure 1** (Arjovsky et al. 2017): P_0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1]. In
  closed form W(P_0, P_theta) = |theta|, JS = log 2, KL = +inf and TV = 1 for theta != 0 (all 0 at theta = 0):
  only W is continuous in theta, so only a Wasserstein critic gives the generator a gradient. Beside the closed
  forms, the values a trained GAN discriminator estimates through the optimal-discriminator identity
  (JS = log 2 + (E log D(real) + E log(1 - D(fake))) / 2) and the W1 a trained WGAN-GP critic estimates
  (E f(real) - E f(fake)), at a grid of theta (:func:`example1_file`).
- **WGAN Figure 2**: two 1-D Gaussians; a GAN discriminator and a WGAN critic each trained near optimality; their
  values over x and the gradient a generator sample at x would get (:func:`figure2_file`).
- **WGAN-GP Figure 1(b)** (Gulrajani et al. 2017): deep ReLU critics on swiss roll (the paper: 12 layers) with
  weight clipping at several c against the gradient penalty: the norm of the gradient of the critic's output with
  respect to each layer's input over training, and the critics' weight histograms (:func:`figure1b_file`).

Each function trains with the project's objectives (``gan.objectives``: the losses, the clipping hook, the
optimisers), writes one npz (``gan.atomic.save_npz``) whose keys :func:`load_npz` reads back, and is seeded inside
:func:`torch.random.fork_rng` (the caller's RNG state is left alone). The settings have no defaults here:
config/schema.yaml's ``wgan_example1``, ``wgan_figure2`` and ``wgangp_figure1b`` blocks hold them. torch is
imported inside the functions: the DAG imports this module without it.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from . import atomic

if TYPE_CHECKING:
    import torch

#: the stages, each a config block of the same name (config/schema.yaml) and a folder of results (gan.layout)
STAGES = ("wgan_example1", "wgan_figure2", "wgangp_figure1b")
LOG2 = math.log(2.0)
#: the critic constraints of the WGAN critics here: clipping = objective wgan, penalty = objective wgan-gp
WGAN_CONSTRAINTS = ("clipping", "penalty")
_EVAL_SEED_OFFSET = 1_000_003  # evaluation draws never reuse the training stream


# --- closed forms ------------------------------------------------------------------------------------------------

def example1_closed_forms(theta: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """WGAN Example 1: W, JS, KL and TV between P_0 = (0, Z) and P_theta = (theta, Z), Z ~ U[0, 1]."""
    theta = np.asarray(theta, dtype=float)
    apart = theta != 0
    return {"W": np.abs(theta), "JS": np.where(apart, LOG2, 0.0), "KL": np.where(apart, np.inf, 0.0),
            "TV": np.where(apart, 1.0, 0.0)}


# --- small nets and their training ---------------------------------------------------------------------------------

def mlp(in_dim: int, width: int, depth: int) -> torch.nn.Sequential:
    """`depth` hidden Linear + ReLU layers of `width` units and a linear scalar output (PyTorch's default init)."""
    from torch import nn

    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be positive (got {depth}, {width})")
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def build_wgan_objective(constraint: str, *, lr: float, clip_value: float | None = None,
                         gp_lambda: float | None = None, optimizer: str | None = None):
    """The registered objective behind a WGAN critic constraint (clipping: wgan; penalty: wgan-gp)."""
    from .objectives import build_objective

    if constraint == "clipping":
        return build_objective("wgan", lr=lr, clip_value=clip_value, optimizer=optimizer)
    if constraint == "penalty":
        return build_objective("wgan-gp", lr=lr, gp_lambda=gp_lambda, optimizer=optimizer)
    raise ValueError(f"unknown constraint {constraint!r}; valid: {', '.join(WGAN_CONSTRAINTS)}")


def train_net(net: torch.nn.Module, objective, sample: Callable[[int], tuple[torch.Tensor, torch.Tensor]], *,
              steps: int, batch_size: int,
              every: Callable[[int], None] | None = None) -> np.ndarray:
    """`steps` updates of `net` by `objective`'s critic step on fresh (real, fake) batches; returns the losses.
    `every(step)` is called after each update (logging, measurements)."""
    from .objectives import build_optimizer

    optimizer = build_optimizer(net.parameters(), objective)
    losses = np.empty(steps)
    for step in range(steps):
        real, fake = sample(batch_size)
        out = objective.critic_step(net, real, fake)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        objective.after_critic_step(net)
        losses[step] = float(out.loss.detach())
        if not math.isfinite(losses[step]):
            raise FloatingPointError(f"{objective.name} loss is {losses[step]} at update {step}")
        if every is not None:
            every(step + 1)
    return losses


def js_estimate(disc: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """log 2 + (E log D(real) + E log(1 - D(fake))) / 2, D = sigmoid(logit): the JS divergence when D is optimal
    (Goodfellow et al. 2014, Theorem 1), a lower bound otherwise."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        return float(LOG2 + 0.5 * (F.logsigmoid(disc(real)).mean() + F.logsigmoid(-disc(fake)).mean()))


def w_estimate(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """E f(real) - E f(fake): W1 for an optimal 1-Lipschitz critic (K W1 for a clipped one)."""
    import torch

    with torch.no_grad():
        return float(critic(real).mean() - critic(fake).mean())


def _settings_array(settings: dict) -> np.ndarray:
    return np.array(json.dumps(settings, sort_keys=True))


def load_npz(path: str | Path) -> dict[str, Any]:
    """One of this module's npz files as a dict (0-d arrays as Python scalars, ``settings`` parsed), checked."""
    return atomic.load_settings_npz(path, atomic.rerun_remedy("paper_stage_data", path))


# --- WGAN Example 1 / Figure 1 ------------------------------------------------------------------------------------

def example1_sampler(theta: float, generator: torch.Generator) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """(real, fake) batches: real (0, Z), fake (theta, Z), Z ~ U[0, 1], independent Z for the two."""
    import torch

    def sample(n: int):
        z_real, z_fake = torch.rand(n, 1, generator=generator), torch.rand(n, 1, generator=generator)
        return (torch.cat([torch.zeros(n, 1), z_real], 1), torch.cat([torch.full((n, 1), float(theta)), z_fake], 1))

    return sample


def example1_estimates(theta: float, *, steps: int, batch_size: int, width: int, lr: float, gp_lambda: float,
                       seed: int, n_eval: int = 8192) -> dict[str, float]:
    """A GAN discriminator (objective gan: Adam(lr, (0.5, 0.999))) and a WGAN-GP critic (Adam(lr, (0.5, 0.9)),
    lambda gp_lambda), each 2 hidden layers of `width` ReLU units, trained `steps` updates at one theta; their
    JS and W estimates on `n_eval` fresh points of each distribution."""
    import torch

    from .objectives import build_objective

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        disc, critic = mlp(2, width, 2), mlp(2, width, 2)
        train_net(disc, build_objective("gan", lr=lr), example1_sampler(theta, torch.Generator().manual_seed(seed)),
                  steps=steps, batch_size=batch_size)
        train_net(critic, build_wgan_objective("penalty", lr=lr, gp_lambda=gp_lambda),
                  example1_sampler(theta, torch.Generator().manual_seed(seed + 1)), steps=steps,
                  batch_size=batch_size)
    real, fake = example1_sampler(theta, torch.Generator().manual_seed(seed + _EVAL_SEED_OFFSET))(n_eval)
    return {"js_estimate": js_estimate(disc, real, fake), "w_estimate": w_estimate(critic, real, fake)}


def example1_thetas(theta_max: float, n_theta: int) -> np.ndarray:
    """The theta grid: `n_theta` points evenly over [-theta_max, theta_max] (odd n_theta includes theta = 0)."""
    if n_theta < 1 or not theta_max > 0:
        raise ValueError(f"n_theta must be positive and theta_max > 0 (got {n_theta}, {theta_max})")
    return np.linspace(-theta_max, theta_max, n_theta) if n_theta > 1 else np.array([0.0])


def example1_file(out: str | Path, *, theta_max: float, n_theta: int, steps: int, batch_size: int, width: int,
                  lr: float, gp_lambda: float, seed: int,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Closed forms and trained estimates over the theta grid, one npz: ``theta``, ``W``, ``JS``, ``KL``,
    ``TV`` (closed forms), ``js_estimate``, ``w_estimate``, ``wall_clock_s``, ``settings`` (JSON)."""
    started = time.perf_counter()
    thetas = example1_thetas(theta_max, n_theta)
    est = {"js_estimate": np.empty(len(thetas)), "w_estimate": np.empty(len(thetas))}
    for i, theta in enumerate(thetas):
        # one seed per theta: each point is an independent experiment
        e = example1_estimates(float(theta), steps=steps, batch_size=batch_size, width=width, lr=lr,
                               gp_lambda=gp_lambda, seed=seed + 7919 * i)
        for k, v in e.items():
            est[k][i] = v
        if progress is not None:
            progress(f"theta {theta:+.3f}: JS estimate {e['js_estimate']:.4f}, W estimate {e['w_estimate']:.4f}")
    settings = {"theta_max": theta_max, "n_theta": n_theta, "steps": steps, "batch_size": batch_size,
                "width": width, "depth": 2, "lr": lr, "gp_lambda": gp_lambda, "seed": seed,
                "discriminator": "gan (Adam, betas (0.5, 0.999))", "critic": "wgan-gp (Adam, betas (0.5, 0.9))"}
    wall = time.perf_counter() - started
    atomic.save_npz(out, theta=thetas, **example1_closed_forms(thetas), **est, wall_clock_s=np.array(wall),
                    settings=_settings_array(settings))
    return {"n_theta": len(thetas), "wall_clock_s": round(wall, 2)}


# --- WGAN Figure 2 ------------------------------------------------------------------------------------------------

def figure2_curves(disc: torch.nn.Module, critic: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """Over x: D(x) = sigmoid(logit), the critic f(x), and d/dx of each generator loss at a sample x: minimax
    log(1 - D(x)) (what the optimal-discriminator theory is about), non-saturating -log D(x), and WGAN -f(x)."""
    import torch
    import torch.nn.functional as F

    xt = torch.tensor(x, dtype=torch.float32).reshape(-1, 1).requires_grad_(True)
    logit = disc(xt).reshape(-1)
    f = critic(xt).reshape(-1)
    (g_minimax,) = torch.autograd.grad(F.logsigmoid(-logit).sum(), xt, retain_graph=True)
    (g_ns,) = torch.autograd.grad((-F.logsigmoid(logit)).sum(), xt)
    (g_w,) = torch.autograd.grad((-f).sum(), xt)
    return {"D": torch.sigmoid(logit).detach().numpy().astype(float), "f": f.detach().numpy().astype(float),
            "grad_minimax": g_minimax.reshape(-1).numpy().astype(float),
            "grad_nonsaturating": g_ns.reshape(-1).numpy().astype(float),
            "grad_wgan": g_w.reshape(-1).numpy().astype(float)}


def figure2_file(out: str | Path, *, real_mean: float, fake_mean: float, std: float, steps: int, batch_size: int,
                 width: int, lr: float, constraint: str, critic_lr: float, clip_value: float, gp_lambda: float,
                 seed: int, n_x: int = 501, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A GAN discriminator (objective gan, Adam(lr)) and a WGAN critic (`constraint`: clipping at `clip_value`
    with PyTorch's RMSProp(critic_lr), as the WGAN paper; or the penalty, Adam(critic_lr, (0.5, 0.9)),
    lambda `gp_lambda`), both 2 hidden layers of `width` ReLU units, trained `steps` updates to separate
    N(real_mean, std^2) from N(fake_mean, std^2). npz: ``x``, the curves of :func:`figure2_curves`, the two
    densities ``p_real``, ``p_fake``, ``disc_loss``, ``critic_loss``, the final ``js_estimate`` and
    ``w_estimate`` with the exact ``w1_exact`` = |real_mean - fake_mean|, ``settings``."""
    import torch

    from .objectives import build_objective

    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    started = time.perf_counter()

    def sampler(generator):
        def sample(n):
            return (real_mean + std * torch.randn(n, 1, generator=generator),
                    fake_mean + std * torch.randn(n, 1, generator=generator))
        return sample

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        disc, critic = mlp(1, width, 2), mlp(1, width, 2)
        disc_loss = train_net(disc, build_objective("gan", lr=lr), sampler(torch.Generator().manual_seed(seed)),
                              steps=steps, batch_size=batch_size)
        wgan = build_wgan_objective(constraint, lr=critic_lr, clip_value=clip_value if constraint == "clipping"
                                    else None, gp_lambda=gp_lambda if constraint == "penalty" else None)
        critic_loss = train_net(critic, wgan, sampler(torch.Generator().manual_seed(seed + 1)), steps=steps,
                                batch_size=batch_size)
    lo, hi = min(real_mean, fake_mean) - 4 * std, max(real_mean, fake_mean) + 4 * std
    x = np.linspace(lo, hi, n_x)
    curves = figure2_curves(disc, critic, x)
    real, fake = sampler(torch.Generator().manual_seed(seed + _EVAL_SEED_OFFSET))(8192)

    def density(mu):
        return np.exp(-0.5 * ((x - mu) / std) ** 2) / (std * math.sqrt(2 * math.pi))

    settings = {"real_mean": real_mean, "fake_mean": fake_mean, "std": std, "steps": steps,
                "batch_size": batch_size, "width": width, "depth": 2, "lr": lr, "constraint": constraint,
                "critic_lr": critic_lr, "clip_value": clip_value if constraint == "clipping" else None,
                "gp_lambda": gp_lambda if constraint == "penalty" else None, "seed": seed,
                "critic_optimizer": wgan.optimizer}
    wall = time.perf_counter() - started
    js, w = js_estimate(disc, real, fake), w_estimate(critic, real, fake)
    if progress is not None:
        progress(f"JS estimate {js:.4f} (log 2 = {LOG2:.4f}); critic's W estimate {w:.4g} "
                 f"(exact W1 {abs(real_mean - fake_mean):g})")
    atomic.save_npz(out, x=x, **curves, p_real=density(real_mean), p_fake=density(fake_mean),
                    disc_loss=disc_loss.astype(np.float32), critic_loss=critic_loss.astype(np.float32),
                    js_estimate=np.array(js), w_estimate=np.array(w),
                    w1_exact=np.array(abs(real_mean - fake_mean)), wall_clock_s=np.array(wall),
                    settings=_settings_array(settings))
    return {"wall_clock_s": round(wall, 2)}


# --- WGAN-GP Figure 1(b) ------------------------------------------------------------------------------------------

def layer_gradient_norms(critic: torch.nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """Mean over the points of ||d f(x) / d h_k||_2 for every layer input h_k of the critic: h_0 = x (the
    gradient the penalty constrains), h_k the output of the k-th ReLU layer; (depth + 1,) values, input first."""
    import torch
    from torch import nn

    linears = [i for i, m in enumerate(critic) if isinstance(m, nn.Linear)]
    inputs: list[torch.Tensor] = []
    h = x.detach().clone().requires_grad_(True)
    for i, module in enumerate(critic):
        if i in linears:
            inputs.append(h)
        h = module(h)
    grads = torch.autograd.grad(h.sum(), inputs)
    return np.array([float(g.norm(2, dim=1).mean()) for g in grads])


def critic_weights(critic: torch.nn.Module) -> np.ndarray:
    """Every weight matrix's entries (not the biases), as the paper's histogram."""
    from torch import nn

    return np.concatenate([m.weight.detach().reshape(-1).numpy() for m in critic.modules()
                           if isinstance(m, nn.Linear)]).astype(np.float32)


def deep_critic_run(dataset: str, constraint: str, *, depth: int, width: int, steps: int, batch_size: int,
                    noise_std: float, seed: int, lr: float, clip_value: float | None = None,
                    gp_lambda: float | None = None, optimizer: str | None = None, n_measure: int = 20,
                    n_eval: int = 1024) -> dict[str, np.ndarray]:
    """One deep critic (`depth` hidden ReLU layers) trained against swiss roll's fixed "generator" (data +
    N(0, noise_std^2), as Figure 1(a)) with a constraint; ``steps_measured`` (n,) and ``norms`` (n, depth + 1):
    :func:`layer_gradient_norms` at real points over training, and its ``weights`` at the end."""
    import torch

    from .models import initialise
    from .optimal_critic import FixedGenerator, _points_dataset

    ds = _points_dataset(dataset)
    objective = build_wgan_objective(constraint, lr=lr, clip_value=clip_value, gp_lambda=gp_lambda,
                                     optimizer=optimizer)
    when = sorted({max(1, round(steps * k / n_measure)) for k in range(1, n_measure + 1)})
    eval_points = ds.sample(n_eval, torch.Generator().manual_seed(seed + _EVAL_SEED_OFFSET))
    measured: list[np.ndarray] = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        critic = initialise(mlp(2, width, depth), "tflib-he")  # gan_toy.py's init: He, zero biases
        objective.after_critic_step(critic)  # the clipped critic starts inside its box
        fixed = FixedGenerator(ds, noise_std, "same", torch.Generator().manual_seed(seed))

        def sample(n):
            real, fake, _ = fixed(n)
            return real, fake

        def measure(step):
            if step in when:
                measured.append(layer_gradient_norms(critic, eval_points))

        measured.append(layer_gradient_norms(critic, eval_points))
        train_net(critic, objective, sample, steps=steps, batch_size=batch_size, every=measure)
    return {"steps_measured": np.array([0, *when]), "norms": np.stack(measured), "weights": critic_weights(critic)}


def figure1b_constraints(clip_values: Sequence[float]) -> list[tuple[str, str, float | None]]:
    """(label, constraint, clip value) of every critic: one per c, then the penalty."""
    return [(f"clipping c={c:g}", "clipping", float(c)) for c in clip_values] + [("penalty", "penalty", None)]


def figure1b_file(out: str | Path, *, dataset: str, depth: int, width: int, steps: int, batch_size: int,
                  noise_std: float, clip_values: Sequence[float], clip_lr: float, clip_optimizer: str,
                  gp_lambda: float, gp_lr: float, seed: int,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The critics of :func:`figure1b_constraints` (one seed, the same initial weights before clipping), one npz:
    ``labels`` (k,), ``constraints`` (k,), ``clip_values`` (k,, NaN for the penalty), ``steps_measured`` (n,),
    ``norms`` (k, n, depth + 1), ``weights_<i>`` per critic, ``settings``."""
    started = time.perf_counter()
    runs = figure1b_constraints(clip_values)
    results = []
    for label, constraint, c in runs:
        clipped = constraint == "clipping"
        r = deep_critic_run(dataset, constraint, depth=depth, width=width, steps=steps, batch_size=batch_size,
                            noise_std=noise_std, seed=seed, lr=clip_lr if clipped else gp_lr,
                            clip_value=c, gp_lambda=None if clipped else gp_lambda,
                            optimizer=clip_optimizer if clipped else "adam")
        results.append(r)
        if progress is not None:
            norms = np.array2string(r["norms"][-1], precision=3)
            progress(f"{label}: final per-layer gradient norms (input first) {norms}")
    settings = {"dataset": dataset, "depth": depth, "width": width, "steps": steps, "batch_size": batch_size,
                "noise_std": noise_std, "clip_values": list(map(float, clip_values)), "clip_lr": clip_lr,
                "clip_optimizer": clip_optimizer, "gp_lambda": gp_lambda, "gp_lr": gp_lr,
                "gp_optimizer": "adam (0.5, 0.9)", "seed": seed}
    wall = time.perf_counter() - started
    atomic.save_npz(out, labels=np.array([r[0] for r in runs]), constraints=np.array([r[1] for r in runs]),
                    clip_values=np.array([np.nan if r[2] is None else r[2] for r in runs]),
                    steps_measured=results[0]["steps_measured"], norms=np.stack([r["norms"] for r in results]),
                    **{f"weights_{i}": r["weights"] for i, r in enumerate(results)}, wall_clock_s=np.array(wall),
                    settings=_settings_array(settings))
    return {"critics": len(runs), "wall_clock_s": round(wall, 2)}


#: stage -> the function that computes its npz from the stage's settings
COMPUTE: dict[str, Callable[..., dict[str, Any]]] = {"wgan_example1": example1_file, "wgan_figure2": figure2_file,
                                                     "wgangp_figure1b": figure1b_file}


def compute_stage(stage: str, out: str | Path, settings: dict[str, Any],
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A stage's npz from its config block (config/schema.yaml; `enabled` is the DAG's, not the function's)."""
    if stage not in COMPUTE:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(COMPUTE)}")
    kwargs = {k: v for k, v in settings.items() if k != "enabled"}
    return COMPUTE[stage](out, **kwargs, progress=progress)
