"""WGAN-GP's Figure 3 analogue: the Inception Score against generator iterations (top row) and against training
wall-clock time (bottom row), one column per image dataset scored in Inception's feature space, mean over seeds
with its band, and real images' IS at the same N and protocol as the grey line a generator is read against."""
from __future__ import annotations

from gan.report.figures.convergence import convergence_panel
from gan.report.figures.style import (aggregate, empty_panel, figure_legend, figure_style, floor_legend_handle,
                                      legend_handles, markers_for, np, palette_for, pd, plt, save_figures, stats)
from gan.report.registry import register_figure

REAL_LINE = "real images, same N and protocol: mean ± std"


def inception_score_key(scores: pd.DataFrame, dataset: str) -> str | None:
    """The IS column a dataset has values in: the legacy-resize one (comparable with published numbers) first."""
    from gan.metrics.inception_score import KEYS

    sub = scores[scores["dataset"] == dataset]
    for key, _ in KEYS.values():
        if key in sub and np.isfinite(pd.to_numeric(sub[key], errors="coerce")).any():
            return key
    return None


@register_figure(stem="inception_score", per="benchmark", inputs=("scores", "floors"), caption="inception_score.rst",
                 space="inception")
def inception_score_figure(out_paths, planned, options, *, scores, floors):
    image = [d for d in planned.datasets if not aggregate.is_toy_dataset(d, scores)] if len(scores) else []
    shown = [(d, inception_score_key(scores, d)) for d in image]
    with figure_style():
        cols = max(len(shown), 1)
        fig, axes = plt.subplots(2, cols, figsize=(4.3 * cols, 2 * 3.3 + 0.7), squeeze=False, layout="constrained")
        objectives = aggregate.objective_order(scores["objective"].unique()) if len(scores) else []
        pal, mk = palette_for(objectives), markers_for(objectives)
        for col, (ds, key) in enumerate(shown):
            for row, x in enumerate(("step", "wall_clock_s")):
                ax = axes[row, col]
                ax.set_title(ds)
                if key is None:
                    empty_panel(ax, "no Inception Score:\nnot scored in Inception's\nfeature space (extractors)")
                else:
                    convergence_panel(ax, scores, ds, key, x, floors, pal, mk)
        if not shown:
            for ax in axes.flat:
                empty_panel(ax, "no image dataset")
        real = floor_legend_handle()
        real[-1].set_label(REAL_LINE)
        n_seeds = int(scores.groupby(["dataset", "objective"])["seed"].nunique().min()) if len(scores) else 0
        what = ("band: nominal 95% t-interval of the mean" if n_seeds >= stats.MIN_BAND_N
                else f"dotted: each seed (no band below {stats.MIN_BAND_N} seeds)")
        figure_legend(fig, legend_handles(objectives) + [real], title=f"line: mean over seeds; {what}")
        return save_figures(fig, out_paths)
