"""Toy critics (``toy_critics``, only when there are toy datasets): real points, generated points and the
critic's value over the plane (the critic_grid rule's file), final checkpoint, one seed; one row per toy dataset,
one column per objective."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from gan.report.figures.critic import critic_quantity
from gan.report.figures.style import (REAL_COLOUR, InputFiles, as_points, empty_panel, figure_legend, figure_style,
                                      kilo, mlines, np, objectives_in, palette_for, pd, pick_seed, plt,
                                      save_figures)
from gan.report.registry import register_figure


@register_figure(stem="toy_critics", per="benchmark", toy_only=True,
                 inputs=("runs", "critic_grids", "samples", "references", "training"), caption="toy_critics.rst")
def toy_critics(out_paths, planned, options, *, runs, critic_grids, samples, references, training):
    return plot_toy_critics(runs, out_paths, datasets=list(planned.datasets), critic_grids=critic_grids,
                            samples=samples, real_points=references, training=training, seed=options.seed,
                            n_points=options.n_points)


def plot_toy_critic(grid: dict | None, generated, real, ax=None, *, lim: float | None = None,
                    color: str = "#E69F00", title: str | None = None, colorbar: bool = True,
                    critic_label: str = "critic value", out_paths=None):
    """Low-level toy panel: the critic's values (`grid`: "x", "y", "values" as written by the critic_grid rule,
    see gan.critic_grid; None for points only) as filled contours, real points (dark) and generated points
    (`color`). Draws into `ax` (or a new figure, saved to `out_paths` when given). Returns the axes."""
    own = ax is None
    if lim is None:
        lim = float(grid["lim"]) if grid is not None and "lim" in grid else 3.0
    if own:
        ctx = figure_style()
        ctx.__enter__()
        fig, ax = plt.subplots(figsize=(4.6, 4.0), layout="constrained")
    try:
        if grid is not None:
            Z = np.asarray(grid["values"], dtype=float)
            if Z.size and np.isfinite(Z).any() and np.nanmax(Z) > np.nanmin(Z):
                cf = ax.contourf(grid["x"], grid["y"], Z, levels=14, cmap="Greys", alpha=0.55, zorder=0)
                ax.contour(grid["x"], grid["y"], Z, levels=cf.levels, colors="0.45", linewidths=0.4, alpha=0.6,
                           zorder=1)
                if colorbar:
                    cb = ax.figure.colorbar(cf, ax=ax, shrink=0.85, pad=0.02, aspect=25)
                    cb.set_label(critic_label, fontsize=9)
                    cb.ax.tick_params(labelsize=8)
            else:
                ax.text(0.02, 0.02, "critic constant / non-finite", transform=ax.transAxes, fontsize=8)
        r, g = as_points(real), as_points(generated)
        ax.scatter(g[:, 0], g[:, 1], s=7, color=color, edgecolors="none", alpha=0.7, zorder=2,
                   label="generated")
        ax.scatter(r[:, 0], r[:, 1], s=14, c=REAL_COLOUR, marker="+", linewidths=0.7, alpha=0.8, zorder=3,
                   label="real")
        ax.grid(False)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        if title:
            ax.set_title(title)
        if own:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, markerscale=3)
            if out_paths is not None:
                save_figures(fig, out_paths)
    finally:
        if own:
            ctx.__exit__(None, None, None)
    return ax


def _ok(d: dict | None) -> bool:
    return d is not None and d.get("status", "ok") == "ok"


def plot_toy_critics(runs: pd.DataFrame, out_paths, *, datasets: Sequence[str], critic_grids: InputFiles,
                     samples: InputFiles, real_points: dict[str, np.ndarray], training: pd.DataFrame | None = None,
                     seed: int | None = None, n_points: int = 1000) -> list[Path]:
    """Grid: one row per toy dataset, one column per objective; one seed (`seed`, else the lowest finished one)
    at the last step of its critic grid. `critic_grids` / `samples`: the declared files; `real_points`:
    {dataset: (n, 2) real points}; `training` (training.csv) says which objectives log a Wasserstein estimate
    (their panels read "critic value", the others "D logit")."""
    training = training if training is not None else pd.DataFrame(columns=["objective"])
    with figure_style():
        objs = objectives_in(runs, critic_grids)
        objs = [o for o in objs if any(critic_grids.seeds(d, o) for d in datasets)] or objs
        pal = palette_for(objs)
        nr, nc = max(1, len(datasets)), max(1, len(objs))
        fig, axes = plt.subplots(nr, nc, figsize=(3.9 * nc, 3.5 * nr + 0.6), squeeze=False, layout="constrained")
        if not datasets or not objs:
            empty_panel(axes[0, 0], "no toy datasets in these results")
            for ax in axes.flat[1:]:
                ax.set_visible(False)
        for i, ds in enumerate(datasets):
            real = real_points.get(ds)
            for j, obj in enumerate(objs):
                ax = axes[i, j]
                s, status = pick_seed(runs, critic_grids, ds, obj, seed)
                grid = critic_grids.get(ds, obj, s) if s is not None else None
                if grid is None:
                    empty_panel(ax, f"{ds} · {obj}\nno critic grid")
                    continue
                step = int(grid["step"])
                title = f"{obj} · seed {s} · step {kilo(step)}" + (" · diverged" if status == "diverged" else "")
                if not _ok(grid):
                    empty_panel(ax, f"{title}\nmissing: {grid.get('reason') or 'no checkpoint'}")
                    continue
                gen = samples.get(ds, obj, s, step)
                points = gen["samples"][:n_points] if _ok(gen) and "samples" in gen else None
                label = "critic value" if critic_quantity(training, obj) == "wasserstein" else "D logit"
                plot_toy_critic(grid, points, None if real is None else real[:n_points], ax=ax, color=pal[obj],
                                title=title, critic_label=label)
                if points is None:
                    ax.text(0.02, 0.95, "no generated points", transform=ax.transAxes, fontsize=8, va="top")
                if j == 0:
                    ax.set_ylabel(f"{ds}\nx₂")
        handles = [mlines.Line2D([], [], color=REAL_COLOUR, marker="+", linestyle="", markersize=8, label="real")]
        handles += [mlines.Line2D([], [], color=pal[o], marker="o", linestyle="", markersize=6,
                                  label=f"generated ({o})") for o in objs]
        if datasets and objs:
            figure_legend(fig, handles, title=None)
        return save_figures(fig, out_paths)
