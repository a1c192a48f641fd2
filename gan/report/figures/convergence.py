"""Convergence: the headline score vs generator iterations (``convergence_steps``) and vs training wall-clock
time (``convergence_wallclock``), mean over seeds with the 95 % Student-t interval of that mean as a band (none
below 2 seeds), and the metric's real-vs-real floor (mean ± std over its draws) as a grey band, one panel per
dataset."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from gan.report.figures.style import (aggregate, auto_log, datasets_in, empty_panel, figure_legend, figure_style,
                                      floor_legend_handle, kilo, legend_handles, markers_for, mean_band, np,
                                      palette_for, panel_grid, pd, save_figures, stats, ticker)
from gan.report.registry import register_figure


@register_figure(stem="convergence_steps", per="benchmark", inputs=("scores", "floors"),
                 caption="convergence_steps.rst")
def convergence_steps(out_paths, planned, options, *, scores, floors):
    return plot_convergence(scores, out_paths, x="step", primary=options.primary, datasets=list(planned.datasets),
                            floors=floors)


@register_figure(stem="convergence_wallclock", per="benchmark", inputs=("scores", "floors"),
                 caption="convergence_wallclock.rst")
def convergence_wallclock(out_paths, planned, options, *, scores, floors):
    return plot_convergence(scores, out_paths, x="wall_clock_s", primary=options.primary,
                            datasets=list(planned.datasets), floors=floors)


def _time_unit(max_seconds: float) -> tuple[float, str]:
    """(divisor, unit) so that wall-clock axes read in s, min or h."""
    if max_seconds >= 3 * 3600:
        return 3600.0, "h"
    if max_seconds >= 300:
        return 60.0, "min"
    return 1.0, "s"


def _limit_to_data(ax, values: Iterable[float], floor: tuple[float, float] | None = None) -> None:
    """y-limits from the per-seed values (and the floor), not from the bands: with few seeds a t-interval is wide
    (t = 12.7 at 2 seeds) and would squash the curves; the band then runs off the panel, which the caption says."""
    v = pd.to_numeric(pd.Series(list(values)), errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    if floor is not None:
        v = np.concatenate([v, [x for x in floor if np.isfinite(x)]])
    if not len(v):
        return
    lo, hi = float(v.min()), float(v.max())
    if ax.get_yscale() == "log":
        ax.set_ylim(lo / 1.5, hi * 1.5)
    else:
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
        ax.set_ylim(lo - pad, hi + pad)


def _diverged_note(scores: pd.DataFrame, dataset: str) -> str:
    if "run_status" not in scores:
        return ""
    sub = scores[scores["dataset"] == dataset].drop_duplicates(["objective", "seed"])
    parts = []
    for obj in aggregate.objective_order(sub["objective"].unique()):
        s = sub[sub["objective"] == obj]
        k = int((s["run_status"] == "diverged").sum())
        if k:
            parts.append(f"{obj} {k}/{len(s)}")
    return ("diverged: " + ", ".join(parts)) if parts else ""


def _floor_band(ax, floors: pd.DataFrame | None, dataset: str, metric: str) -> tuple[float, float] | None:
    """The metric's real-vs-real floor: mean ± std over its draws, a grey band across the panel. Returns its
    (low, high), or None when there is no floor."""
    if floors is None or floors.empty:
        return None
    row = floors[(floors["dataset"] == dataset) & (floors["metric"] == metric)]
    if row.empty or not np.isfinite(row["floor_mean"].iloc[0]):
        return None
    mean = float(row["floor_mean"].iloc[0])
    std = float(row["floor_std"].iloc[0]) if np.isfinite(row["floor_std"].iloc[0]) else 0.0
    ax.axhspan(mean - std, mean + std, color="0.5", alpha=0.25, linewidth=0, zorder=0)
    ax.axhline(mean, color="0.35", linewidth=1.0, linestyle="--", zorder=0)
    return mean - std, mean + std


def convergence_panel(ax, scores: pd.DataFrame, dataset: str, metric: str, x: str, floors: pd.DataFrame | None,
                      pal: dict[str, str], mk: dict[str, str]) -> None:
    """One panel: `metric` of `dataset` against x ("step" or "wall_clock_s"), mean over seeds with its band, and
    the real-vs-real value (floors.csv) as a grey band."""
    m, ds = metric, dataset
    sub = scores[(scores["dataset"] == ds)][["objective", "seed", "step", "wall_clock_s", m]].copy()
    sub[m] = pd.to_numeric(sub[m], errors="coerce")
    sub = sub[np.isfinite(sub[m])]
    xlabel = "generator iterations"
    if x == "wall_clock_s":
        sub["_x"] = sub.groupby(["objective", "step"])["wall_clock_s"].transform("mean")
        sub = sub.dropna(subset=["_x"])
        scale, unit = _time_unit(sub["_x"].max() if len(sub) else 0.0)
        sub["_x"] = sub["_x"] / scale
        xlabel = f"training wall-clock time ({unit})"
    else:
        sub["_x"] = sub["step"]
    if sub.empty:
        empty_panel(ax, "no finite scores" + (" or wall-clock times" if x != "step" else ""))
        return
    bands = stats.band_over_seeds(sub, "_x", m, "objective")
    for obj in aggregate.objective_order(sub["objective"].unique()):
        mean_band(ax, bands[bands["objective"] == obj], "_x", pal[obj], mk[obj],
                  seeds=sub[sub["objective"] == obj], y=m)
    floor = _floor_band(ax, floors, ds, m)
    auto_log(ax, sub[m])
    _limit_to_data(ax, sub[m], floor)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(aggregate.metric_spec(m).axis_label())
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(kilo))
    ax.set_xlim(left=0)


def plot_convergence(scores: pd.DataFrame, out_paths, *, x: str = "step", primary=None,
                     datasets: Sequence[str] | None = None, floors: pd.DataFrame | None = None) -> list[Path]:
    """Headline score vs generator iterations (x="step") or training wall-clock (x="wall_clock_s").

    Mean over seeds with the nominal 95 % Student-t interval of the mean from 3 seeds up, each seed's line below; for wall-clock, the x
    position of a checkpoint is the mean over seeds of the training seconds at that checkpoint. The grey band is
    the metric's real-vs-real floor (mean ± std over its draws, floors.csv) when given.
    """
    if x not in ("step", "wall_clock_s"):
        raise ValueError("x must be 'step' or 'wall_clock_s'")
    ds_list = datasets_in(scores, datasets)
    with figure_style():
        fig, axes = panel_grid(len(ds_list))
        objectives = aggregate.objective_order(scores["objective"].unique()) if len(scores) else []
        pal, mk = palette_for(objectives), markers_for(objectives)
        for ax, ds in zip(axes.flat, ds_list):
            m = aggregate.primary_metric(scores, ds, primary)
            note = _diverged_note(scores, ds)
            ax.set_title(ds + (f"\n({note})" if note else ""))
            if m is None:
                empty_panel(ax, "no scores")
                continue
            convergence_panel(ax, scores, ds, m, x, floors, pal, mk)
        if not ds_list:
            empty_panel(axes.flat[0], "no scores")
        n_seeds = int(scores.groupby(["dataset", "objective"])["seed"].nunique().min()) if len(scores) else 0
        what = ("band: nominal 95% t-interval of the mean (may run off the panel)" if n_seeds >= stats.MIN_BAND_N
                else f"dotted: each seed (no band below {stats.MIN_BAND_N} seeds)")
        figure_legend(fig, legend_handles(objectives) + [floor_legend_handle()],
                      title=f"line: mean over seeds; {what}")
        return save_figures(fig, out_paths)
