"""WGAN-GP paper, Figure 1(a): WGAN critics trained to optimality against a *fixed* "generator".

"Value surfaces of WGAN critics trained to optimality on toy datasets using (top) weight clipping and (bottom)
gradient penalty. [...] The 'generator' is held fixed at the real data plus Gaussian noise." (Gulrajani et al.
2017). This is not the critic of a trained GAN: no generator trains; the "fake" distribution is the data
distribution convolved with N(0, noise_std^2 I), and only the critic is optimised, for `steps` updates.

The reference code (improved_wgan_training ``gan_toy.py``, ``FIXED_GENERATOR = True``, "as in the plots in the
paper") makes the fake batch as ``real_data + 1. * tf.random_normal(...)``: the *same* real batch plus unit noise,
so the penalty's interpolates lie between each real point and its own noisy copy. That is ``pairing="same"``
(config/schema.yaml's default); ``pairing="independent"`` adds the noise to a second, independent real batch
instead (the same fake distribution, so the same optimal critic, but interpolates along chords between unrelated
points).

Everything else is the project's: the critic is the toy model's critic (``gan.models``, 3 hidden layers of
``width`` ReLU units), the objectives' ``critic_step`` / ``after_critic_step`` and ``build_optimizer``:

- ``clipping`` = objective ``wgan``: RMSProp(5e-5), every critic parameter clamped to [-0.01, 0.01] after each step;
- ``penalty``  = objective ``wgan-gp``: Adam(1e-4, (0.5, 0.9)), penalty weight ``gp_lambda`` (the paper: 10;
  ``gan_toy.py``: 0.1).

:func:`optimal_critic_file` trains one critic and writes one npz (``gan.atomic.save_npz``, atomic) with the keys of
:data:`NPZ_KEYS`:

- ``x``, ``y`` (R,), ``values`` (R, R): the critic over [-lim, lim]^2 (``gan.critic_grid.critic_values``:
  values[i, j] is the critic at (x[j], y[i])), ``lim``, ``resolution``;
- ``real``, ``noisy`` (n_points, 2): points of the data and of the fixed "generator" for the scatter;
- ``loss`` (steps,): the critic loss of every update (with the penalty term for ``penalty``); ``wasserstein``
  (steps,): -(loss without penalty), the critic's estimate of W1(data, data + noise); ``penalty`` (steps,):
  the penalty without lambda (NaN for ``clipping``); ``flat_rel_change``: |mean of the last 10 % of
  ``wasserstein`` - mean of the 10 % before| / |mean of the last 10 %| (small = flattened); ``w_estimate``: the
  mean of the last 10 % of ``wasserstein``; ``w1_exact``: the exact W1 between ``w1_n`` real and ``w1_n`` noisy
  evaluation points (``gan.metrics.distances.wasserstein1``), what an optimal 1-Lipschitz critic's estimate approaches
  (the penalty critic's should come close; a clipped critic estimates W1 times an unknown K, far below it);
- ``grad_where`` (3,) = ("real", "noisy", "interpolates"), ``grad_stat_names`` (6,) = :data:`GRAD_STATS`,
  ``grad_stats`` (3, 6): ||grad_x D(x)||_2 at ``n_eval`` fresh points of each kind (evaluation draws seeded
  separately from training): mean, std, 5/50/95 % quantiles and the fraction within [0.9, 1.1];
- identity and settings: ``dataset``, ``constraint``, ``objective``, ``steps``, ``batch_size``, ``noise_std``,
  ``gp_lambda`` and ``clip_value`` (NaN where not applicable), ``lr``, ``optimizer``, ``width``, ``seed``,
  ``pairing``, ``wall_clock_s``, and ``settings`` (a JSON string of all of them plus the objective's resolved
  hyper-parameters).

Seeded and deterministic: the same arguments give the same file on the same machine (CPU); the global torch RNG
(initial weights, the penalty's eps) is seeded inside :func:`torch.random.fork_rng`, so the caller's RNG state is
left alone.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import atomic

if TYPE_CHECKING:  # torch is imported where a critic trains: the DAG reads this module's settings without it
    import torch

#: constraint name -> registered objective whose losses and hooks it uses
CONSTRAINTS: dict[str, str] = {"clipping": "wgan", "penalty": "wgan-gp"}
#: fake-batch pairing: "same" = gan_toy.py's FIXED_GENERATOR (real batch + noise), or an independent real batch
PAIRINGS = ("same", "independent")
#: where the gradient norms are measured, and what is reported of them
GRAD_WHERE = ("real", "noisy", "interpolates")
GRAD_STATS = ("mean", "std", "q05", "q50", "q95", "frac_0.9_1.1")
LIM, RESOLUTION = 3.0, 121
NPZ_KEYS = ("x", "y", "values", "lim", "resolution", "real", "noisy", "loss", "wasserstein", "penalty",
            "flat_rel_change", "w_estimate", "w1_exact", "w1_n", "grad_where", "grad_stat_names", "grad_stats",
            "dataset", "constraint", "objective", "steps", "batch_size", "noise_std", "gp_lambda", "clip_value", "lr",
            "optimizer", "width", "seed", "pairing", "wall_clock_s", "settings")
_EVAL_SEED_OFFSET = 1_000_003  # evaluation draws use seed + this, never the training stream


def _points_dataset(dataset: str):
    from .datasets import get_dataset

    ds = get_dataset(dataset)
    if ds.kind != "points":
        raise ValueError(f"dataset {dataset!r} is not a 2-D toy dataset (kind {ds.kind!r}); Figure 1(a) needs points")
    return ds


def build_constraint(constraint: str, *, gp_lambda: float | None = None, lr: float | None = None,
                     clip_value: float | None = None):
    """The objective behind a constraint, with the paper's defaults (None: the objective's own)."""
    from .objectives import build_objective

    if constraint not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {constraint!r}; valid: {', '.join(CONSTRAINTS)}")
    if constraint == "clipping":
        return build_objective("wgan", lr=lr, clip_value=clip_value)
    if clip_value is not None:
        raise ValueError("clip_value applies to constraint 'clipping' only")
    return build_objective("wgan-gp", lr=lr, gp_lambda=gp_lambda)


class FixedGenerator:
    """Batches of (real, fake) with fake = real' + N(0, noise_std^2 I), real' the same batch ("same") or an
    independent one ("independent"). Nothing here trains."""

    def __init__(self, dataset, noise_std: float, pairing: str, generator: torch.Generator):
        if pairing not in PAIRINGS:
            raise ValueError(f"unknown pairing {pairing!r}; valid: {', '.join(PAIRINGS)}")
        if not noise_std > 0:
            raise ValueError(f"noise_std must be positive, got {noise_std}")
        self.dataset, self.noise_std, self.pairing, self.generator = dataset, float(noise_std), pairing, generator

    def __call__(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(real, fake, base): `base` is the real batch the noise was added to."""
        import torch

        real = self.dataset.sample(n, self.generator)
        base = real if self.pairing == "same" else self.dataset.sample(n, self.generator)
        fake = base + self.noise_std * torch.randn(base.shape, generator=self.generator)
        return real, fake, base


def gradient_norms(critic: torch.nn.Module, x: torch.Tensor, chunk: int = 4096) -> np.ndarray:
    """||grad_x D(x)||_2 of every point (no graph kept)."""
    import torch

    out = []
    for part in x.split(chunk):
        part = part.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(part).sum(), part)
        out.append(grad.flatten(start_dim=1).norm(2, dim=1).detach().cpu())
    return torch.cat(out).double().numpy()


def norm_statistics(norms: np.ndarray) -> np.ndarray:
    """The :data:`GRAD_STATS` of an array of gradient norms."""
    norms = np.asarray(norms, dtype=float)
    q05, q50, q95 = np.quantile(norms, [0.05, 0.5, 0.95])
    near = float(np.mean((norms >= 0.9) & (norms <= 1.1)))
    return np.array([norms.mean(), norms.std(ddof=1) if norms.size > 1 else 0.0, q05, q50, q95, near])


def flat_rel_change(curve: np.ndarray, fraction: float = 0.1) -> float:
    """|mean(last fraction) - mean(the fraction before)| / |mean(last fraction)|: how much the curve still moves."""
    curve = np.asarray(curve, dtype=float)
    k = max(1, int(len(curve) * fraction))
    if len(curve) < 2 * k:
        return float("nan")
    last, before = curve[-k:].mean(), curve[-2 * k:-k].mean()
    return float(abs(last - before) / abs(last)) if last != 0 else float("nan")


def train_optimal_critic(dataset: str, constraint: str, *, steps: int, batch_size: int, noise_std: float,
                         seed: int, gp_lambda: float, width: int, pairing: str, lr: float | None = None,
                         clip_value: float | None = None, device: str | torch.device = "cpu",
                         progress: Callable[[int, float], None] | None = None,
                         progress_every: int = 500) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train a critic against the fixed "generator" data + N(0, noise_std^2): returns (critic in eval mode, info).

    The settings have no defaults here: config/schema.yaml's `figure1a` block holds them (the paper-size run).

    `info`: "loss", "wasserstein", "penalty" (numpy, one value per update), "objective" (the resolved
    objective), "settings" (dict), "wall_clock_s". `progress(step, wasserstein)` is called every
    `progress_every` updates (logging only).
    """
    import torch

    from .models import ModelConfig, build_models
    from .objectives import build_optimizer

    if steps < 1 or batch_size < 1 or width < 1:
        raise ValueError(f"steps, batch_size and width must be positive (got {steps}, {batch_size}, {width})")
    objective = build_constraint(constraint, gp_lambda=gp_lambda, lr=lr, clip_value=clip_value)
    ds = _points_dataset(dataset)
    device = torch.device(device)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # initial weights and the penalty's eps
        _, critic = build_models(ModelConfig("toy", tuple(ds.shape), width=width))
        critic = critic.to(device).train()
        objective.check_critic(critic)
        optimizer = build_optimizer(critic.parameters(), objective)
        fixed = FixedGenerator(ds, noise_std, pairing, torch.Generator().manual_seed(seed))
        loss = np.empty(steps, np.float64)
        wasserstein = np.empty(steps, np.float64)
        penalty = np.full(steps, np.nan, np.float64)
        for step in range(steps):
            real, fake, _ = fixed(batch_size)
            out = objective.critic_step(critic, real.to(device), fake.to(device))
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            objective.after_critic_step(critic)
            loss[step] = float(out.loss.detach())
            wasserstein[step] = float(out.wasserstein)
            if out.penalty is not None:
                penalty[step] = float(out.penalty)
            if not math.isfinite(loss[step]):
                raise FloatingPointError(f"critic loss is {loss[step]} at update {step} ({dataset}, {constraint})")
            if progress is not None and (step + 1) % progress_every == 0:
                progress(step + 1, float(wasserstein[max(0, step - progress_every + 1):step + 1].mean()))
    critic.eval()
    hyper = objective.hyperparameters()
    settings = {"dataset": dataset, "constraint": constraint, "objective": CONSTRAINTS[constraint],
                "steps": int(steps), "batch_size": int(batch_size), "noise_std": float(noise_std), "seed": int(seed),
                "width": int(width), "pairing": pairing, "model": "toy",
                "gp_lambda": float(hyper["gp_lambda"]) if "gp_lambda" in hyper else None,
                "clip_value": float(hyper["clip_value"]) if "clip_value" in hyper else None,
                "lr": float(objective.lr), "optimizer": objective.optimizer,
                "betas": list(objective.betas) if objective.betas is not None else None,
                "objective_hyperparameters": hyper}
    return critic, {"loss": loss, "wasserstein": wasserstein, "penalty": penalty, "objective": objective,
                    "settings": settings, "wall_clock_s": time.perf_counter() - started}


def evaluate_critic(critic: torch.nn.Module, dataset: str, *, noise_std: float, pairing: str, seed: int,
                    n_eval: int = 4096, n_points: int = 500, lim: float = LIM, resolution: int = RESOLUTION,
                    n_w1: int = 2000, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The value surface (``gan.critic_grid.critic_values``), scatter points, gradient-norm statistics and the
    exact W1 between real and noisy evaluation points (``n_w1`` of each, from disjoint real draws)."""
    import torch

    from .critic_grid import critic_values
    from .metrics.distances import wasserstein1

    ds = _points_dataset(dataset)
    device = torch.device(device)
    fixed = FixedGenerator(ds, noise_std, pairing, torch.Generator().manual_seed(seed + _EVAL_SEED_OFFSET))
    real, noisy, base = fixed(n_eval)
    eps = torch.rand(n_eval, 1, generator=fixed.generator)
    inter = eps * real + (1 - eps) * noisy  # as the penalty draws them (gan.objectives.gradient_penalty)
    stats = np.stack([norm_statistics(gradient_norms(critic, pts.to(device))) for pts in (real, noisy, inter)])
    x, y, values = critic_values(critic, lim, resolution, str(device))
    k, m = min(n_points, n_eval), min(n_w1, n_eval // 2)
    w1 = wasserstein1(real[:m].numpy(), noisy[n_eval - m:].numpy()) if m > 0 else float("nan")
    return {"x": x, "y": y, "values": values, "lim": float(lim), "resolution": int(resolution),
            "real": real[:k].numpy().astype(np.float32), "noisy": noisy[:k].numpy().astype(np.float32),
            "grad_stats": stats, "w1_exact": np.array(w1), "w1_n": np.array(m)}


def optimal_critic_file(dataset: str, constraint: str, out: str | Path, *, steps: int, batch_size: int,
                        noise_std: float, seed: int, gp_lambda: float, width: int, pairing: str,
                        lr: float | None = None, clip_value: float | None = None, n_eval: int = 4096,
                        n_points: int = 500, lim: float = LIM, resolution: int = RESOLUTION, n_w1: int = 2000,
                        device: str | torch.device = "cpu",
                        progress: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train one critic (:func:`train_optimal_critic`), evaluate it and write the npz; returns a short summary."""
    critic, info = train_optimal_critic(dataset, constraint, steps=steps, batch_size=batch_size,
                                        noise_std=noise_std, seed=seed, gp_lambda=gp_lambda, width=width, lr=lr,
                                        clip_value=clip_value, pairing=pairing, device=device, progress=progress)
    ev = evaluate_critic(critic, dataset, noise_std=noise_std, pairing=pairing, seed=seed, n_eval=n_eval,
                         n_points=n_points, lim=lim, resolution=resolution, n_w1=n_w1, device=device)
    s = info["settings"]
    flat = flat_rel_change(info["wasserstein"])
    w_final = float(info["wasserstein"][-max(1, steps // 10):].mean())
    nan = float("nan")
    atomic.save_npz(out, **ev, loss=info["loss"].astype(np.float32),
                wasserstein=info["wasserstein"].astype(np.float32), penalty=info["penalty"].astype(np.float32),
                flat_rel_change=np.array(flat), w_estimate=np.array(w_final), grad_where=np.array(GRAD_WHERE),
                grad_stat_names=np.array(GRAD_STATS),
                dataset=np.array(dataset), constraint=np.array(constraint), objective=np.array(s["objective"]),
                steps=np.array(s["steps"]), batch_size=np.array(s["batch_size"]), noise_std=np.array(s["noise_std"]),
                gp_lambda=np.array(nan if s["gp_lambda"] is None else s["gp_lambda"]),
                clip_value=np.array(nan if s["clip_value"] is None else s["clip_value"]), lr=np.array(s["lr"]),
                optimizer=np.array(s["optimizer"]), width=np.array(s["width"]), seed=np.array(s["seed"]),
                pairing=np.array(pairing), wall_clock_s=np.array(info["wall_clock_s"]),
                settings=np.array(json.dumps({**s, "n_eval": n_eval, "n_points": n_points, "lim": lim,
                                              "resolution": resolution, "n_w1": n_w1}, sort_keys=True)))
    interp = ev["grad_stats"][GRAD_WHERE.index("interpolates")]
    return {"dataset": dataset, "constraint": constraint, "wall_clock_s": round(info["wall_clock_s"], 2),
            "w_estimate": w_final, "w1_exact": float(ev["w1_exact"]),
            "flat_rel_change": flat, "interpolates_median_norm": float(interp[GRAD_STATS.index("q50")]),
            "interpolates_frac_0.9_1.1": float(interp[GRAD_STATS.index("frac_0.9_1.1")])}


def load_optimal_critic(path: str | Path) -> dict[str, Any]:
    """The npz of :func:`optimal_critic_file` as a dict (0-d arrays as Python scalars, ``settings`` parsed)."""
    out = atomic.load_settings_npz(path, atomic.rerun_remedy("optimal_critic", path))
    out["grad_where"] = [str(w) for w in out["grad_where"]]
    out["grad_stat_names"] = [str(n) for n in out["grad_stat_names"]]
    return out
