"""The critic's value over the plane at a checkpoint (toy 2-D data): computed once by a rule, plotted from the file.

The figures never load a model: the ``critic_grid`` rule runs :func:`critic_grid_checkpoint` for each checkpoint
the toy-critic figure shows and writes ``RunFiles(run_dir).critic_grid(step)``, an npz with

- ``x`` (R,), ``y`` (R,): the grid axes on [-lim, lim]; ``values`` (R, R): the critic at (x[j], y[i]) in row i,
  column j (float32, NaN where the critic is not finite; empty (0, 0) when missing);
- ``step``, ``seed`` (the run seed), ``lim``, ``resolution``;
- ``status`` ("ok" | "missing") and ``reason`` ("" or why, e.g. "diverged at step 120"), as samples files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from . import atomic
from .layout import RunFiles

LIM = 3.0
RESOLUTION = 121


def critic_values(critic: Callable, lim: float = LIM, resolution: int = RESOLUTION, device: str = "cpu"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, values): the critic on a resolution x resolution grid over [-lim, lim]^2; values[i, j] is the
    critic at (x[j], y[i]). The module's train/eval mode is restored afterwards."""
    import torch

    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    xs = np.linspace(-lim, lim, resolution, dtype=np.float32)
    X, Y = np.meshgrid(xs, xs)
    pts = torch.from_numpy(np.stack([X.ravel(), Y.ravel()], axis=1)).to(device)
    was_training = getattr(critic, "training", None)
    if hasattr(critic, "eval"):
        critic.eval()
    try:
        with torch.no_grad():
            z = critic(pts)
    finally:
        if was_training and hasattr(critic, "train"):
            critic.train(True)
    z = z.detach().float().cpu().numpy().reshape(-1)
    if z.size != X.size:
        raise ValueError(f"critic returned {z.size} values for {X.size} points")
    z = np.where(np.isfinite(z), z, np.nan).astype(np.float32)
    return xs, xs.copy(), z.reshape(X.shape)


def save_critic_grid(path: str | Path, x: np.ndarray, y: np.ndarray, values: np.ndarray, *, step: int, seed: int,
                     lim: float, resolution: int, status: str = "ok", reason: str = "") -> None:
    atomic.save_npz(path, x=np.asarray(x, np.float32), y=np.asarray(y, np.float32),
                values=np.asarray(values, np.float32), step=np.array(int(step)), seed=np.array(int(seed)),
                lim=np.array(float(lim)), resolution=np.array(int(resolution)), status=np.array(status),
                reason=np.array(reason))


def load_critic_grid(path: str | Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {"x": f["x"], "y": f["y"], "values": f["values"], "step": int(f["step"]), "seed": int(f["seed"]),
                "lim": float(f["lim"]), "resolution": int(f["resolution"]), "status": str(f["status"]),
                "reason": str(f["reason"])}


def critic_grid_checkpoint(run_dir: str | Path, step: int, out: str | Path, *, lim: float = LIM,
                           resolution: int = RESOLUTION, device: str = "cpu") -> dict:
    """Write the critic grid of the run's checkpoint at `step` to `out`. A run that diverged before `step` has no
    such checkpoint: the file is then marked missing with the reason (as its samples are)."""
    files = RunFiles(run_dir)
    path = files.checkpoint(step)
    empty = np.zeros(0, np.float32)
    if not path.exists():
        summary = atomic.read_json(files.summary) if files.summary.exists() else {}
        if summary.get("status") == "diverged" and summary.get("steps_done", 0) < step:
            reason = f"diverged at step {summary.get('diverged_step')}"
            save_critic_grid(out, empty, empty, np.zeros((0, 0), np.float32), step=step,
                             seed=int(summary.get("seed", -1)), lim=lim, resolution=resolution, status="missing",
                             reason=reason)
            return {"status": "missing", "reason": reason}
        raise FileNotFoundError(f"no checkpoint for step {step} in {files.checkpoints} "
                                f"(and the run did not diverge before it)")
    from .checkpoint import load_run

    run = load_run(path, device=device)
    x, y, values = critic_values(run.critic, lim, resolution, device)
    save_critic_grid(out, x, y, values, step=run.step, seed=int(run.config.get("seed", -1)), lim=lim,
                     resolution=resolution)
    return {"status": "ok", "step": run.step, "finite": bool(np.isfinite(values).all())}
