"""Samples: ``samples_{dataset}``, an image grid (or a scatter of 2-D points) per objective at the final
checkpoint, and ``samples_strip_{dataset}``, grids over checkpoints for one seed; each beside a real-data panel
drawn the same way from the dataset's prepared data file (the ``real_data`` input)."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Iterable

from gan.report.figures.style import (InputFiles, as_points, empty_panel, figure_style, kilo, np, objectives_in,
                                      palette_for, panel_grid, pd, pick_seed, plt, save_figures)
from gan.report.inputs import MAX_STRIP_STEPS, strip_steps
from gan.report.registry import register_figure


#: the most points a scatter panel shows (generated and real alike), however few samples a panel is given
POINTS_SHOWN = 1000
REAL_COLOR = "#444444"  # the real panel's frame: no objective's colour


@register_figure(stem="samples_{dataset}", per="dataset", inputs=("runs", "samples", "real_data"),
                 caption="samples.rst")
def final_samples(out_paths, planned, options, *, runs, samples, real_data):
    return plot_samples(runs, planned.datasets[0], out_paths, samples=samples, seed=options.seed,
                        real_data=real_data)


@register_figure(stem="samples_strip_{dataset}", per="dataset", inputs=("runs", "samples", "real_data"),
                 caption="samples_strip.rst")
def samples_strip(out_paths, planned, options, *, runs, samples, real_data):
    return plot_sample_strip(runs, planned.datasets[0], out_paths, samples=samples, seed=options.seed,
                             real_data=real_data)


class RealData:
    """The real-data panels' data: records {"dataset", "kind", "split", "seed", "path"} of the prepared data
    files the figures rule declares. :meth:`get` draws a fixed seeded subset of the split: images by the rule
    the reference statistics pick their real subset with (gan.metrics.reference.reference_subset), 2-D points
    by the reference's draw from the dataset's sampler with that seed; so the panel is the same on every run."""

    def __init__(self, records: Iterable[dict] = ()):
        self._records = {str(r["dataset"]): dict(r) for r in records}
        self._cache: dict[tuple[str, int], dict] = {}

    def get(self, dataset: str, n: int) -> dict | None:
        """{"kind", "samples", "split", "seed", "status"} of `n` real examples (points: POINTS_SHOWN or `n`);
        None when no file was given, status "missing" with the reason when it cannot be read."""
        r = self._records.get(dataset)
        if r is None:
            return None
        n = max(n, POINTS_SHOWN) if r["kind"] == "points" else n
        if (dataset, n) not in self._cache:
            meta = {"kind": r["kind"], "split": str(r["split"]), "seed": int(r["seed"])}
            try:
                self._cache[dataset, n] = {**meta, "status": "ok", "samples": self._draw(r, n)}
            except (OSError, ValueError, TypeError, KeyError) as exc:  # the panel says why; so does the log
                warnings.warn(f"real data of {dataset} from {r['path']}: {exc}", stacklevel=2)
                self._cache[dataset, n] = {**meta, "status": "missing", "reason": str(exc)}
        return self._cache[dataset, n]

    @staticmethod
    def _draw(r: dict, n: int) -> np.ndarray:
        import torch

        from gan.datasets import load_prepared, to_uint8
        from gan.metrics.reference import reference_subset

        ds = load_prepared(r["path"], str(r["split"]))
        if ds.kind == "points":
            return ds.sample(n, torch.Generator().manual_seed(int(r["seed"]))).numpy()
        n = min(n, len(ds))
        return to_uint8(ds.images[torch.from_numpy(reference_subset(len(ds), n, int(r["seed"])))]).numpy()


def plot_real_panel(real: RealData, dataset: str, ax, n: int) -> None:
    """The real-data panel: `n` examples of `dataset` drawn as the generated panels are, titled with its split,
    N and seed."""
    r = real.get(dataset, n)
    if r is None:
        empty_panel(ax, "real data\nnot given")
        ax.set_title("real data")
        return
    # a toy distribution has no splits: its points are drawn from its sampler
    title = "real data" + (f" · {r['split']} split" if r["kind"] != "points" else "")
    if r["status"] == "ok":
        title += f"\nN = {len(r['samples'])} · seed {r['seed']}"
    plot_sample_panel(r, ax, title=title, n=n, color=REAL_COLOR)


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
        pts = as_points(x)[: max(n, POINTS_SHOWN)]
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
                 n: int = 64, real_data: RealData | None = None) -> list[Path]:
    """The real-data panel, then one panel per objective: `n` samples of `dataset` at the last given step of one
    seed."""
    objs = objectives_in(runs, samples, dataset=dataset)
    pal = palette_for(objs)
    with figure_style():
        fig, axes = panel_grid(max(len(objs), 1) + 1, max_cols=4, w=3.4, h=3.6, extra_h=0.2)
        plot_real_panel(real_data or RealData(), dataset, axes.flat[0], n)
        if not objs:
            empty_panel(axes.flat[1], f"{dataset}: no runs")
        for ax, obj in zip(axes.flat[1:], objs):
            s_seed, _ = pick_seed(runs, samples, dataset, obj, seed)
            s = samples.get(dataset, obj, s_seed) if s_seed is not None else None
            label = f"{obj}" + (f" · seed {s_seed}" if s_seed is not None else "")
            if s is not None:
                label += f"\nstep {kilo(s['step'])}"
            plot_sample_panel(s, ax, title=label, n=n, color=pal[obj])
        fig.suptitle(f"{dataset}: samples at the final checkpoint", fontsize=12)
        return save_figures(fig, out_paths)


def plot_sample_strip(runs: pd.DataFrame, dataset: str, out_paths, *, samples: InputFiles,
                      seed: int | None = None, n: int = 36, max_steps: int = MAX_STRIP_STEPS,
                      real_data: RealData | None = None) -> list[Path]:
    """Rows = objectives, columns = the given checkpoints of `dataset` (at most `max_steps`, evenly spaced,
    always the last): one seed; a last column holds the real-data panel, beside the last checkpoint."""
    objs = objectives_in(runs, samples, dataset=dataset)
    pal = palette_for(objs)
    picks = {obj: pick_seed(runs, samples, dataset, obj, seed)[0] for obj in objs}
    steps_l = strip_steps(samples.steps(dataset), max_steps)
    with figure_style():
        nr, nc = max(1, len(objs)), max(1, len(steps_l)) + 1
        fig, axes = plt.subplots(nr, nc, figsize=(2.3 * nc + 0.6, 2.5 * nr + 0.4), squeeze=False,
                                 layout="constrained")
        plot_real_panel(real_data or RealData(), dataset, axes[0, -1], n)
        for ax in axes[1:, -1]:
            ax.set_visible(False)
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
