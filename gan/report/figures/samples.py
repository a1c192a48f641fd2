"""Samples: ``samples_{dataset}``, an image grid (or a scatter of 2-D points) per objective at the final
checkpoint, and ``samples_strip_{dataset}``, grids over checkpoints for one seed."""
from __future__ import annotations

import math
from pathlib import Path

from gan.report.figures.style import (InputFiles, as_points, empty_panel, figure_style, kilo, np, objectives_in,
                                      palette_for, panel_grid, pd, pick_seed, plt, save_figures)
from gan.report.inputs import MAX_STRIP_STEPS, strip_steps
from gan.report.registry import register_figure


@register_figure(stem="samples_{dataset}", per="dataset", inputs=("runs", "samples"), caption="samples.rst")
def final_samples(out_paths, planned, options, *, runs, samples):
    return plot_samples(runs, planned.datasets[0], out_paths, samples=samples, seed=options.seed)


@register_figure(stem="samples_strip_{dataset}", per="dataset", inputs=("runs", "samples"),
                 caption="samples_strip.rst")
def samples_strip(out_paths, planned, options, *, runs, samples):
    return plot_sample_strip(runs, planned.datasets[0], out_paths, samples=samples, seed=options.seed)


def image_grid(samples: np.ndarray, nrow: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 image (H', W') for C == 1 or (H', W', 3) for C == 3."""
    x = np.asarray(samples)
    if x.ndim == 3:
        x = x[:, None]
    if x.dtype != np.uint8:
        x = np.clip(x, 0, 255).astype(np.uint8)
    n, c, h, w = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol_rows = int(math.ceil(n / nrow))
    grid = np.full((c, ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=np.uint8)
    for k in range(n):
        r, q = divmod(k, nrow)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, y0:y0 + h, x0:x0 + w] = x[k]
    return grid[0] if c == 1 else np.transpose(grid[:3], (1, 2, 0))


def plot_sample_panel(sample: dict | None, ax, *, title: str = "", n: int = 64, color: str = "#0072B2") -> None:
    """One panel: an image grid (grayscale shown gray), or a scatter for point samples, or why it is missing."""
    if sample is None:
        empty_panel(ax, f"{title}\nno samples")
        return
    if sample.get("status", "ok") != "ok" or "samples" not in sample or sample["samples"].size == 0:
        empty_panel(ax, f"{title}\nmissing: {sample.get('reason') or 'no samples'}")
        return
    x = sample["samples"]
    if sample.get("kind") == "points" or (x.ndim == 2 and x.shape[1] == 2):
        pts = as_points(x)[: max(n, 1000)]
        ax.scatter(pts[:, 0], pts[:, 1], s=4, color=color, alpha=0.6, edgecolors="none")
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    else:
        g = image_grid(x[:n])
        ax.imshow(g, cmap="gray" if g.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for s in ax.spines.values():
            s.set_edgecolor(color)
            s.set_linewidth(2.5)
    ax.set_title(title)


def plot_samples(runs: pd.DataFrame, dataset: str, out_paths, *, samples: InputFiles, seed: int | None = None,
                 n: int = 64) -> list[Path]:
    """One panel per objective: `n` samples of `dataset` at the last given step of one seed."""
    objs = objectives_in(runs, samples, dataset=dataset)
    pal = palette_for(objs)
    with figure_style():
        fig, axes = panel_grid(len(objs), max_cols=4, w=3.4, h=3.6, extra_h=0.2)
        if not objs:
            empty_panel(axes.flat[0], f"{dataset}: no runs")
        for ax, obj in zip(axes.flat, objs):
            s_seed, _ = pick_seed(runs, samples, dataset, obj, seed)
            s = samples.get(dataset, obj, s_seed) if s_seed is not None else None
            label = f"{obj}" + (f" · seed {s_seed}" if s_seed is not None else "")
            if s is not None:
                label += f"\nstep {kilo(s['step'])}"
            plot_sample_panel(s, ax, title=label, n=n, color=pal[obj])
        fig.suptitle(f"{dataset}: samples at the final checkpoint", fontsize=12)
        return save_figures(fig, out_paths)


def plot_sample_strip(runs: pd.DataFrame, dataset: str, out_paths, *, samples: InputFiles,
                      seed: int | None = None, n: int = 36, max_steps: int = MAX_STRIP_STEPS) -> list[Path]:
    """Rows = objectives, columns = the given checkpoints of `dataset` (at most `max_steps`, evenly spaced,
    always the last): one seed."""
    objs = objectives_in(runs, samples, dataset=dataset)
    pal = palette_for(objs)
    picks = {obj: pick_seed(runs, samples, dataset, obj, seed)[0] for obj in objs}
    steps_l = strip_steps(samples.steps(dataset), max_steps)
    with figure_style():
        nr, nc = max(1, len(objs)), max(1, len(steps_l))
        fig, axes = plt.subplots(nr, nc, figsize=(2.3 * nc + 0.6, 2.5 * nr + 0.4), squeeze=False,
                                 layout="constrained")
        if not objs or not steps_l:
            empty_panel(axes[0, 0], f"{dataset}: no samples")
        for i, obj in enumerate(objs):
            s_seed = picks[obj]
            for j, step in enumerate(steps_l):
                s = samples.get(dataset, obj, s_seed, step) if s_seed is not None else None
                plot_sample_panel(s, axes[i, j], title=f"step {kilo(step)}" if i == 0 else "", n=n,
                                  color=pal[obj])
            if s_seed is not None:
                axes[i, 0].set_ylabel(f"{obj}\nseed {s_seed}", fontsize=11, color=pal[obj])
                axes[i, 0].yaxis.label.set_visible(True)
        fig.suptitle(f"{dataset}: samples over generator iterations", fontsize=12)
        return save_figures(fig, out_paths)
