"""Figures from the aggregated tables and the declared per-run files (seaborn; every figure saved as PDF and PNG).

Plotting only: no model is loaded and no run folder is globbed. Everything a figure shows comes from a file the
figures rule declares (the tables, samples npz, critic-grid npz of toy runs, the toy reference points), given to
:func:`make_figures` with its identity as data (see :mod:`gan.report.inputs`).

One colour and one marker per objective everywhere (:data:`PALETTE`, :data:`MARKERS`). Every function takes
data frames / arrays in and output paths out (the suffix of each path picks the format), tolerates NaN scores
(diverged runs), a single seed (no CI band) and a single dataset, and never raises on a missing run file: the
panel says what is missing instead.

Figures (file stems: :func:`gan.layout.figure_stems`, paths: :meth:`gan.layout.Layout.figures`):
- ``convergence_steps`` / ``convergence_wallclock``: headline score vs generator iterations / training seconds,
  mean over seeds with the 95 % Student-t interval of that mean as a band (none below 2 seeds), and the metric's
  real-vs-real floor (mean ± std over its draws) as a grey band, one panel per dataset.
- ``critic_{dataset}``: Wasserstein estimate (wgan, wgan-gp) or discriminator loss (gan, gan-minimax) vs
  generator iterations (mean and 95 % t-interval over seeds), and the same at checkpoint steps against the score,
  with Spearman's rho computed within each run and summarised over seeds (mean and 95 % t-interval, cut to
  [-1, 1] where it reaches past, as its note says; ``critic_correlation.csv``: one row per run, one summary row
  per dataset and objective).
- ``toy_critics`` (only when there are toy datasets): real points, generated points and the critic value over
  the plane (the critic_grid rule's file), final checkpoint, one seed.
- ``samples_{dataset}``: image grid per objective at the final checkpoint; ``samples_strip_{dataset}``: grids over
  checkpoints for one seed.
- ``final_distribution``: box + strip plot of final scores over seeds per objective, one panel per dataset.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from gan.atomic import save_figure
from gan.layout import FIGURE_FORMATS, Layout, figure_stems
from gan.report.aggregate import OBJECTIVE_ORDER, metric_spec, objective_order, primary_metric, read_table, write_csv
from gan.report.inputs import MAX_STRIP_STEPS, strip_steps
from gan.report.stats import band_over_seeds, within_run_spearman
from gan.report.tables import final_step_rows

# --------------------------------------------------------------------------------------------------------------
# Style: one palette, defined once
# --------------------------------------------------------------------------------------------------------------

#: Okabe-Ito colours (colour-blind safe), one per objective, in OBJECTIVE_ORDER.
PALETTE: dict[str, str] = {"gan": "#0072B2", "gan-minimax": "#CC79A7", "wgan": "#E69F00", "wgan-gp": "#009E73"}
MARKERS: dict[str, str] = {"gan": "o", "gan-minimax": "v", "wgan": "s", "wgan-gp": "D"}
_EXTRA_COLOURS = ("#D55E00", "#56B4E9", "#000000", "#F0E442", "#999999")
_EXTRA_MARKERS = ("^", "P", "X", "*", "h")
REAL_COLOUR = "#222222"
DPI = 150
PANEL_W, PANEL_H = 4.3, 3.3

assert tuple(PALETTE) == OBJECTIVE_ORDER


def palette_for(objectives: Iterable[str]) -> dict[str, str]:
    """Colour of every objective (fixed ones first; unknown objectives get the spare colours in order)."""
    objs = objective_order(objectives)
    extra = iter(_EXTRA_COLOURS * 4)
    return {o: PALETTE[o] if o in PALETTE else next(extra) for o in objs}


def markers_for(objectives: Iterable[str]) -> dict[str, str]:
    objs = objective_order(objectives)
    extra = iter(_EXTRA_MARKERS * 4)
    return {o: MARKERS[o] if o in MARKERS else next(extra) for o in objs}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Seaborn whitegrid, readable fonts, embeddable PDF fonts; restores the previous rcParams afterwards."""
    rc = {"pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": DPI, "figure.dpi": 100, "legend.frameon": False,
          "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 9.5, "ytick.labelsize": 9.5,
          "legend.fontsize": 10.5, "axes.titlepad": 6.0}
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"), matplotlib.rc_context(rc):
        yield


def _paths(out_paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(out_paths, (str, Path)):
        return [Path(out_paths)]
    return [Path(p) for p in out_paths]


def save_figures(fig, out_paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Save `fig` to every path (format from the suffix) atomically and close it."""
    paths = _paths(out_paths)
    try:
        for p in paths:
            save_figure(fig, p, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(fig)
    return paths


def _legend_handles(objectives: Sequence[str], line: bool = True) -> list[Line2D]:
    pal, mk = palette_for(objectives), markers_for(objectives)
    return [Line2D([], [], color=pal[o], marker=mk[o], linestyle="-" if line else "", markersize=6,
                   linewidth=2 if line else 0, label=o) for o in objective_order(objectives)]


def _figure_legend(fig, handles: list, ncol: int | None = None, title: str | None = "objective") -> None:
    """A legend below all panels (constrained layout keeps it outside the axes)."""
    if not handles:
        return
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol or min(len(handles), 6), title=title,
               frameon=False, columnspacing=1.4, handlelength=2.2)


def _kilo(x: float, _pos=None) -> str:
    if abs(x) >= 1000:
        v = x / 1000
        return f"{v:.0f}k" if float(v).is_integer() else f"{v:.1f}k"
    return f"{x:g}"


def _x_label_with_scale(ax, values, label: str) -> None:
    """Put a power-of-ten multiplier of tiny or huge x values into the axis label: matplotlib's own offset text
    sits on the label's line and overlaps it (WGAN's clipped critic: estimates of 1e-5)."""
    finite = np.abs(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    exp = int(np.floor(np.log10(finite.max()))) if finite.size else 0
    if -3 < exp < 4:
        ax.set_xlabel(label)
        return
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos=None: f"{v / 10.0 ** exp:g}"))
    ax.set_xlabel(f"{label}\n(ticks $\\times 10^{{{exp}}}$)")


def _time_unit(max_seconds: float) -> tuple[float, str]:
    """(divisor, unit) so that wall-clock axes read in s, min or h."""
    if max_seconds >= 3 * 3600:
        return 3600.0, "h"
    if max_seconds >= 300:
        return 60.0, "min"
    return 1.0, "s"


def _grid(n: int, max_cols: int = 3, w: float = PANEL_W, h: float = PANEL_H, extra_h: float = 0.7,
          **kwargs) -> tuple[Any, np.ndarray]:
    n = max(n, 1)
    ncols = min(n, max_cols)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + extra_h), squeeze=False,
                             layout="constrained", **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.35",
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _auto_log(ax, values: pd.Series) -> None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    v = v[np.isfinite(v)]
    if len(v) and (v > 0).all() and v.max() / v.min() > 30:
        ax.set_yscale("log")


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
    for obj in objective_order(sub["objective"].unique()):
        s = sub[sub["objective"] == obj]
        k = int((s["run_status"] == "diverged").sum())
        if k:
            parts.append(f"{obj} {k}/{len(s)}")
    return ("diverged: " + ", ".join(parts)) if parts else ""


def _datasets(df: pd.DataFrame, datasets: Sequence[str] | None) -> list[str]:
    present = sorted(df["dataset"].dropna().unique()) if "dataset" in df and len(df) else []
    return [d for d in datasets if d in present] if datasets is not None else present


# --------------------------------------------------------------------------------------------------------------
# 1. Convergence
# --------------------------------------------------------------------------------------------------------------

def _band(ax, band: pd.DataFrame, x: str, color: str, marker: str | None = None) -> None:
    """Mean line (with markers) and its t-interval band, from :func:`gan.report.stats.band_over_seeds`."""
    band = band.sort_values(x)
    ax.plot(band[x], band["mean"], color=color, marker=marker, markersize=6 if marker else 0, linewidth=1.8)
    ax.fill_between(band[x], band["low"], band["high"], color=color, alpha=0.18, linewidth=0)


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


def plot_convergence(scores: pd.DataFrame, out_paths, *, x: str = "step", primary=None,
                     datasets: Sequence[str] | None = None, floors: pd.DataFrame | None = None) -> list[Path]:
    """Headline score vs generator iterations (x="step") or training wall-clock (x="wall_clock_s").

    Mean over seeds with the 95 % Student-t interval of the mean (no band below 2 seeds); for wall-clock, the x
    position of a checkpoint is the mean over seeds of the training seconds at that checkpoint. The grey band is
    the metric's real-vs-real floor (mean ± std over its draws, floors.csv) when given.
    """
    if x not in ("step", "wall_clock_s"):
        raise ValueError("x must be 'step' or 'wall_clock_s'")
    ds_list = _datasets(scores, datasets)
    with figure_style():
        fig, axes = _grid(len(ds_list))
        objectives = objective_order(scores["objective"].unique()) if len(scores) else []
        pal, mk = palette_for(objectives), markers_for(objectives)
        for ax, ds in zip(axes.flat, ds_list):
            m = primary_metric(scores, ds, primary)
            note = _diverged_note(scores, ds)
            ax.set_title(ds + (f"\n({note})" if note else ""))
            if m is None:
                _empty(ax, "no scores")
                continue
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
                _empty(ax, "no finite scores" + (" or wall-clock times" if x != "step" else ""))
                continue
            bands = band_over_seeds(sub, "_x", m, "objective")
            for obj in objective_order(sub["objective"].unique()):
                _band(ax, bands[bands["objective"] == obj], "_x", pal[obj], mk[obj])
            floor = _floor_band(ax, floors, ds, m)
            _auto_log(ax, sub[m])
            _limit_to_data(ax, sub[m], floor)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric_spec(m).axis_label())
            ax.xaxis.set_major_formatter(FuncFormatter(_kilo))
            ax.set_xlim(left=0)
        if not ds_list:
            _empty(axes.flat[0], "no scores")
        floor_patch = matplotlib.patches.Patch(color="0.5", alpha=0.4, label="real data (floor): mean ± std")
        _figure_legend(fig, _legend_handles(objectives) + [floor_patch],
                       title="line: mean over seeds; band: 95% t-interval of the mean (may run off the panel)")
        return save_figures(fig, out_paths)


# --------------------------------------------------------------------------------------------------------------
# 2. Critic estimate
# --------------------------------------------------------------------------------------------------------------

def critic_quantity(training: pd.DataFrame, objective: str) -> str:
    """'wasserstein' when the objective logs a Wasserstein estimate, else 'loss_d'."""
    sub = training[training["objective"] == objective]
    if "wasserstein" in sub and pd.to_numeric(sub["wasserstein"], errors="coerce").notna().any():
        return "wasserstein"
    return "loss_d"


QUANTITY_LABELS = {"wasserstein": "Wasserstein estimate $-L_\\mathrm{critic}$\n(critic units)",
                   "loss_d": "discriminator loss $L_D$ (nats)"}
_STEP_CMAP = matplotlib.colors.LinearSegmentedColormap.from_list(
    "step_greys", matplotlib.colormaps["Greys"](np.linspace(0.15, 1.0, 64)))


def _smooth_runs(training: pd.DataFrame, q: str, smooth: float, max_points: int) -> pd.DataFrame:
    """Per run: running mean over `smooth` x (number of log rows) rows; then at most `max_points` logged steps,
    the same steps for every run (so that seeds line up for the CI band)."""
    out = []
    for (_, seed), run in training.groupby(["objective", "seed"], sort=False):
        run = run[["objective", "seed", "step", q]].copy()
        run[q] = pd.to_numeric(run[q], errors="coerce").replace([np.inf, -np.inf], np.nan)
        run = run.dropna(subset=["step"]).sort_values("step")
        w = max(1, int(round(smooth * len(run))))
        run[q] = run[q].rolling(w, center=True, min_periods=1).mean()
        out.append(run)
    if not out:
        return training.iloc[:0]
    df = pd.concat(out, ignore_index=True)
    steps = np.sort(df["step"].unique())
    if len(steps) > max_points:
        k = int(math.ceil(len(steps) / max_points))
        keep = set(steps[::k]) | {steps[-1]}
        df = df[df["step"].isin(keep)]
    return df.reset_index(drop=True)


def critic_at_checkpoints(training: pd.DataFrame, scores: pd.DataFrame, q: str, metric: str,
                          smooth: float = 0.02) -> pd.DataFrame:
    """(dataset, objective, seed, step, q, metric): the smoothed training quantity at each scored checkpoint."""
    rows = []
    for (ds, obj, seed), sc in scores.groupby(["dataset", "objective", "seed"]):
        tr = training[(training["dataset"] == ds) & (training["objective"] == obj) & (training["seed"] == seed)]
        if tr.empty or q not in tr:
            continue
        sm = _smooth_runs(tr, q, smooth, max_points=10**9).dropna(subset=[q])
        if sm.empty:
            continue
        xs, ys = sm["step"].to_numpy(float), sm[q].to_numpy(float)
        for _, r in sc.iterrows():
            val = float(np.interp(r["step"], xs, ys)) if xs[0] <= r["step"] <= xs[-1] else math.nan
            rows.append({"dataset": ds, "objective": obj, "seed": seed, "step": r["step"], q: val,
                         metric: pd.to_numeric(r.get(metric), errors="coerce")})
    return pd.DataFrame(rows, columns=["dataset", "objective", "seed", "step", q, metric])


def plot_critic_estimate(training: pd.DataFrame, scores: pd.DataFrame, out_paths, *,
                         datasets: Sequence[str] | None = None, primary=None, corr_csv: str | Path | None = None,
                         smooth: float = 0.02, max_points: int = 300) -> pd.DataFrame:
    """Critic/discriminator training signal vs iterations (top row of each dataset) and vs the score at
    checkpoint steps (bottom row, Spearman rho in each panel title). Returns the correlation table (and writes it
    to `corr_csv` when given). Curves are running means over `smooth` x (log rows) of each run, then mean +
    95 % CI over seeds."""
    ds_list = _datasets(training, datasets)
    if datasets is not None:
        ds_list = list(dict.fromkeys(list(datasets)))
    corr_rows = []
    with figure_style():
        objs_all = objective_order(training["objective"].unique()) if len(training) else []
        ncols = max(1, len(objs_all))
        nrows = 2 * max(1, len(ds_list))
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows + 0.8), squeeze=False,
                                 layout="constrained")
        pal, mk = palette_for(objs_all), markers_for(objs_all)
        smax = float(pd.to_numeric(scores["step"], errors="coerce").max()) if len(scores) else 1.0
        smax = smax if np.isfinite(smax) and smax > 0 else 1.0
        if not ds_list or not objs_all:
            for ax in axes.flat:
                _empty(ax, "no training logs")
        for i, ds in enumerate(ds_list):
            tr_ds = training[training["dataset"] == ds]
            sc_ds = scores[scores["dataset"] == ds] if len(scores) else scores
            m = primary_metric(sc_ds, ds, primary) if len(sc_ds) else None
            shade = None
            for j, obj in enumerate(objs_all):
                ax_t, ax_s = axes[2 * i, j], axes[2 * i + 1, j]
                tr = tr_ds[tr_ds["objective"] == obj]
                q = critic_quantity(tr_ds, obj)
                ax_t.set_title(f"{ds} · {obj}")
                if tr.empty or q not in tr or pd.to_numeric(tr[q], errors="coerce").notna().sum() == 0:
                    _empty(ax_t, f"no {q} logged")
                    _empty(ax_s, "–")
                    continue
                sm = _smooth_runs(tr, q, smooth, max_points)
                _band(ax_t, band_over_seeds(sm, "step", q), "step", pal[obj])
                ax_t.set_xlabel("generator iterations")
                ax_t.set_ylabel(QUANTITY_LABELS.get(q, q))
                ax_t.xaxis.set_major_formatter(FuncFormatter(_kilo))
                # vs score at checkpoints
                if m is None:
                    _empty(ax_s, "no scores")
                    continue
                pts = critic_at_checkpoints(tr, sc_ds[sc_ds["objective"] == obj], q, m, smooth)
                res = within_run_spearman(pts, q, m)
                ids = {"dataset": ds, "objective": obj, "quantity": q, "metric": m}
                corr_rows += [{**ids, "seed": r["seed"], "rho": r["rho"], "n_checkpoints": r["n"],
                               "note": r["note"]} for r in res["per_run"]]
                corr_rows.append({**ids, "seed": "mean over seeds", "rho": res["mean_rho"], "p": res["p"],
                                  "p_min": res["p_min"], "test": res["method"], "n_seeds": res["n_runs"],
                                  "n_positive": res["n_positive"], "n_negative": res["n_negative"],
                                  "note": res["note"]})
                pts = pts.dropna(subset=[q, m])
                if pts.empty:
                    _empty(ax_s, "no scored checkpoints")
                    continue
                for seed, g in pts.groupby("seed"):
                    g = g.sort_values("step")
                    ax_s.plot(g[q], g[m], color=pal[obj], alpha=0.35, linewidth=0.8, zorder=1)
                shade = ax_s.scatter(pts[q], pts[m], c=pts["step"], cmap=_STEP_CMAP, vmin=0, vmax=smax,
                                     marker=mk[obj], s=30, edgecolor=pal[obj], linewidth=1.2, zorder=2)
                if res["n_runs"] >= 1:
                    rho = (f"mean {res['mean_rho']:.2f}, > 0 in {res['n_positive']}/{res['n_runs']} runs\n"
                           f"(exact permutation p = {res['p']:.2g})")
                else:
                    rho = "undefined\n(no run with 3+ scored checkpoints)"
                ax_s.set_title(f"within-run Spearman ρ: {rho}", fontsize=9)
                _x_label_with_scale(ax_s, pts[q], QUANTITY_LABELS.get(q, q).replace("\n", " "))
                ax_s.set_ylabel(metric_spec(m).axis_label())
                _auto_log(ax_s, pts[m])
            if shade is not None:
                cb = fig.colorbar(shade, ax=axes[2 * i + 1, :].tolist(), shrink=0.8, pad=0.01, aspect=25)
                cb.set_label("generator iterations\n(marker fill)")
                cb.ax.yaxis.set_major_formatter(FuncFormatter(_kilo))
        if len(objs_all):
            handles = _legend_handles(objs_all)
            _figure_legend(fig, handles)
        corr = pd.DataFrame(corr_rows, columns=["dataset", "objective", "quantity", "metric", "seed", "rho",
                                                "n_checkpoints", "p", "p_min", "test", "n_seeds", "n_positive",
                                                "n_negative", "note"])
        if corr_csv is not None:
            write_csv(corr, corr_csv)
        save_figures(fig, out_paths)
        return corr


# --------------------------------------------------------------------------------------------------------------
# Declared input files: identity as data, never parsed from a path
# --------------------------------------------------------------------------------------------------------------

class InputFiles:
    """The per-run files a figure plots, each given with its identity.

    `records`: dicts with "dataset", "objective", "seed", "step" and "path" (what the figures rule declares and
    passes as params, aligned with its file lists). Files are read on first use and cached.
    """

    def __init__(self, records: Iterable[dict] = (), reader: Callable[[Path], dict] | None = None):
        self._paths: dict[tuple[str, str, int, int], Path] = {}
        for r in records:
            key = (str(r["dataset"]), str(r["objective"]), int(r["seed"]), int(r["step"]))
            self._paths[key] = Path(r["path"])
        self._reader = reader or read_npz
        self._cache: dict[tuple, dict | None] = {}

    def __len__(self) -> int:
        return len(self._paths)

    def seeds(self, dataset: str, objective: str) -> list[int]:
        return sorted({k[2] for k in self._paths if k[:2] == (dataset, objective)})

    def steps(self, dataset: str, objective: str | None = None, seed: int | None = None) -> list[int]:
        return sorted({k[3] for k in self._paths if k[0] == dataset and objective in (None, k[1])
                       and seed in (None, k[2])})

    def get(self, dataset: str, objective: str, seed: int, step: int | None = None) -> dict | None:
        """The file of that run at `step` (default: its last step) as a dict; None when not given."""
        if step is None:
            steps = self.steps(dataset, objective, seed)
            if not steps:
                return None
            step = steps[-1]
        key = (dataset, objective, int(seed), int(step))
        if key not in self._paths:
            return None
        if key not in self._cache:
            try:
                d = self._reader(self._paths[key])
                d.setdefault("step", int(step))
                self._cache[key] = d
            except (OSError, ValueError, KeyError) as exc:  # a declared file that cannot be read: say so
                self._cache[key] = {"status": "missing", "reason": f"unreadable: {type(exc).__name__}: {exc}",
                                    "step": int(step)}
        return self._cache[key]


def read_npz(path: str | Path) -> dict:
    """Every array of an npz; 0-d string arrays (kind, status, reason) as str, 0-d numbers as Python numbers."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    for k, v in list(out.items()):
        if v.ndim == 0:
            out[k] = str(v) if v.dtype.kind in "US" else v.item()
    return out


def _pick_seed(runs: pd.DataFrame, files: InputFiles, dataset: str, objective: str, seed: int | None
               ) -> tuple[int | None, str]:
    """(seed, run status) of the run a one-seed figure shows: `seed`, else the lowest finished seed of runs.csv,
    else the lowest seed with files."""
    sub = runs[(runs["dataset"] == dataset) & (runs["objective"] == objective)] if len(runs) else runs
    status = {int(r["seed"]): str(r.get("status", "")) for _, r in sub.iterrows()} if len(sub) else {}
    if seed is not None:
        return int(seed), status.get(int(seed), "")
    fin = sorted(s for s, st in status.items() if st == "finished")
    if fin:
        return fin[0], "finished"
    if status:
        s = min(status)
        return s, status[s]
    seeds = files.seeds(dataset, objective)
    return (seeds[0], "") if seeds else (None, "")


def _objectives(runs: pd.DataFrame, *files: InputFiles, dataset: str | None = None) -> list[str]:
    objs = set(runs.loc[runs["dataset"] == dataset, "objective"] if dataset is not None else runs["objective"]) \
        if len(runs) else set()
    for f in files:
        objs |= {k[1] for k in f._paths if dataset in (None, k[0])}
    return objective_order(o for o in objs if isinstance(o, str))


# --------------------------------------------------------------------------------------------------------------
# 3. Toy critics
# --------------------------------------------------------------------------------------------------------------

def _as_points(x) -> np.ndarray:
    if x is None:
        return np.zeros((0, 2))
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=float)
    return x.reshape(-1, 2) if x.size else np.zeros((0, 2))


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
        r, g = _as_points(real), _as_points(generated)
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
        objs = _objectives(runs, critic_grids)
        objs = [o for o in objs if any(critic_grids.seeds(d, o) for d in datasets)] or objs
        pal = palette_for(objs)
        nr, nc = max(1, len(datasets)), max(1, len(objs))
        fig, axes = plt.subplots(nr, nc, figsize=(3.9 * nc, 3.5 * nr + 0.6), squeeze=False, layout="constrained")
        if not datasets or not objs:
            _empty(axes[0, 0], "no toy datasets in these results")
            for ax in axes.flat[1:]:
                ax.set_visible(False)
        for i, ds in enumerate(datasets):
            real = real_points.get(ds)
            for j, obj in enumerate(objs):
                ax = axes[i, j]
                s, status = _pick_seed(runs, critic_grids, ds, obj, seed)
                grid = critic_grids.get(ds, obj, s) if s is not None else None
                if grid is None:
                    _empty(ax, f"{ds} · {obj}\nno critic grid")
                    continue
                step = int(grid["step"])
                title = f"{obj} · seed {s} · step {_kilo(step)}" + (" · diverged" if status == "diverged" else "")
                if not _ok(grid):
                    _empty(ax, f"{title}\nmissing: {grid.get('reason') or 'no checkpoint'}")
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
        handles = [Line2D([], [], color=REAL_COLOUR, marker="+", linestyle="", markersize=8, label="real")]
        handles += [Line2D([], [], color=pal[o], marker="o", linestyle="", markersize=6, label=f"generated ({o})")
                    for o in objs]
        if datasets and objs:
            _figure_legend(fig, handles, title=None)
        return save_figures(fig, out_paths)


# --------------------------------------------------------------------------------------------------------------
# 4. Samples
# --------------------------------------------------------------------------------------------------------------

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
        _empty(ax, f"{title}\nno samples")
        return
    if sample.get("status", "ok") != "ok" or "samples" not in sample or sample["samples"].size == 0:
        _empty(ax, f"{title}\nmissing: {sample.get('reason') or 'no samples'}")
        return
    x = sample["samples"]
    if sample.get("kind") == "points" or (x.ndim == 2 and x.shape[1] == 2):
        pts = _as_points(x)[: max(n, 1000)]
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
    objs = _objectives(runs, samples, dataset=dataset)
    pal = palette_for(objs)
    with figure_style():
        fig, axes = _grid(len(objs), max_cols=4, w=3.4, h=3.6, extra_h=0.2)
        if not objs:
            _empty(axes.flat[0], f"{dataset}: no runs")
        for ax, obj in zip(axes.flat, objs):
            s_seed, _ = _pick_seed(runs, samples, dataset, obj, seed)
            s = samples.get(dataset, obj, s_seed) if s_seed is not None else None
            label = f"{obj}" + (f" · seed {s_seed}" if s_seed is not None else "")
            if s is not None:
                label += f"\nstep {_kilo(s['step'])}"
            plot_sample_panel(s, ax, title=label, n=n, color=pal[obj])
        fig.suptitle(f"{dataset}: samples at the final checkpoint", fontsize=12)
        return save_figures(fig, out_paths)


def plot_sample_strip(runs: pd.DataFrame, dataset: str, out_paths, *, samples: InputFiles,
                      seed: int | None = None, n: int = 36, max_steps: int = MAX_STRIP_STEPS) -> list[Path]:
    """Rows = objectives, columns = the given checkpoints of `dataset` (at most `max_steps`, evenly spaced,
    always the last): one seed."""
    objs = _objectives(runs, samples, dataset=dataset)
    pal = palette_for(objs)
    picks = {obj: _pick_seed(runs, samples, dataset, obj, seed)[0] for obj in objs}
    steps_l = strip_steps(samples.steps(dataset), max_steps)
    with figure_style():
        nr, nc = max(1, len(objs)), max(1, len(steps_l))
        fig, axes = plt.subplots(nr, nc, figsize=(2.3 * nc + 0.6, 2.5 * nr + 0.4), squeeze=False,
                                 layout="constrained")
        if not objs or not steps_l:
            _empty(axes[0, 0], f"{dataset}: no samples")
        for i, obj in enumerate(objs):
            s_seed = picks[obj]
            for j, step in enumerate(steps_l):
                s = samples.get(dataset, obj, s_seed, step) if s_seed is not None else None
                plot_sample_panel(s, axes[i, j], title=f"step {_kilo(step)}" if i == 0 else "", n=n,
                                  color=pal[obj])
            if s_seed is not None:
                axes[i, 0].set_ylabel(f"{obj}\nseed {s_seed}", fontsize=11, color=pal[obj])
                axes[i, 0].yaxis.label.set_visible(True)
        fig.suptitle(f"{dataset}: samples over generator iterations", fontsize=12)
        return save_figures(fig, out_paths)


# --------------------------------------------------------------------------------------------------------------
# 5. Distribution of final scores
# --------------------------------------------------------------------------------------------------------------

def plot_final_distribution(scores: pd.DataFrame, out_paths, *, primary=None,
                            datasets: Sequence[str] | None = None) -> list[Path]:
    """Box + strip plot of the final-step headline score over seeds, per objective; one panel per dataset.
    Diverged runs have no score; their count is written under the objective's name."""
    ds_list = _datasets(scores, datasets)
    final = final_step_rows(scores) if len(scores) else scores
    with figure_style():
        fig, axes = _grid(len(ds_list), extra_h=0.2)
        if not ds_list:
            _empty(axes.flat[0], "no scores")
        for ax, ds in zip(axes.flat, ds_list):
            m = primary_metric(scores, ds, primary)
            sub = final[final["dataset"] == ds].copy()
            objs = objective_order(sub["objective"].unique())
            pal = palette_for(objs)
            step = int(sub["step"].max()) if len(sub) else None
            ax.set_title(f"{ds}" + (f" · step {_kilo(step)}" if step is not None else ""))
            if m is None:
                _empty(ax, "no scores")
                continue
            sub[m] = pd.to_numeric(sub[m], errors="coerce")
            labels = []
            for o in objs:
                s = sub[sub["objective"] == o]
                nd = int((s.get("run_status", pd.Series(dtype=object)) == "diverged").sum())
                nf = int(s[m].notna().sum())
                labels.append(f"{o}\nn={nf}" + (f", {nd} div." if nd else ""))
            fin = sub[np.isfinite(sub[m])]
            if fin.empty:
                _empty(ax, "no finite final scores")
                continue
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert`
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                sns.boxplot(data=fin, x="objective", y=m, order=objs, hue="objective", hue_order=objs,
                            palette=pal, legend=False, showfliers=False, width=0.55, boxprops={"alpha": 0.45},
                            linewidth=1.2, ax=ax)
            sns.stripplot(data=fin, x="objective", y=m, order=objs, hue="objective", hue_order=objs, palette=pal,
                          legend=False, jitter=0.12, size=6, linewidth=0.8, edgecolor="0.15", ax=ax)
            ax.set_xticks(range(len(objs)))
            ax.set_xticklabels(labels)
            ax.set_xlabel("objective (n = seeds with a final score)")
            ax.set_ylabel(metric_spec(m).axis_label())
            _auto_log(ax, fin[m])
        return save_figures(fig, out_paths)


# --------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------

def _table(path: str | Path | None) -> pd.DataFrame:
    df = read_table(path) if path is not None and Path(path).exists() else pd.DataFrame()
    for col in ("dataset", "objective", "seed"):
        if col not in df:
            df[col] = pd.Series(dtype=object if col != "seed" else int)
    return df


def make_figures(*, scores: str | Path, training: str | Path | None, runs: str | Path | None,
                 root: str | Path, datasets: Sequence[str], toy_datasets: Sequence[str] = (),
                 samples: Iterable[dict] = (), critic_grids: Iterable[dict] = (), references: Iterable[dict] = (),
                 formats: Sequence[str] = FIGURE_FORMATS, primary=None, seed: int | None = None,
                 n_points: int = 1000, floors: str | Path | None = None) -> dict[str, list[Path]]:
    """Every figure of the benchmark from the given files only (what the figures rule declares).

    `scores`, `training`, `runs`: the aggregated tables (CSV). `root`: the results folder; every output path is
    ``gan.layout.Layout(root)``'s, so the files written are exactly ``Layout(root).figures(datasets,
    toy_datasets)`` (in `formats`). `toy_datasets`: the datasets of 2-D points (data from the grid, not names).
    `samples` / `critic_grids`: records {"dataset", "objective", "seed", "step", "path"} of the samples npz and the
    critic-grid npz files to plot; `references`: records {"dataset", "path"} of the toy reference npz (array
    ``points``, the real points). `floors`: floors.csv (real-vs-real bands). `seed`: the seed shown in the one-seed figures (default: lowest finished).
    Returns {figure stem: [paths]} (and "critic_correlation": [csv]).
    """
    layout = Layout(str(root))
    scores_df, training_df, runs_df = _table(scores), _table(training), _table(runs)
    floors_df = read_table(floors) if floors is not None and Path(floors).exists() else None
    datasets = list(datasets)
    stems = figure_stems(datasets, toy_datasets)
    toy = [d for d in datasets if d in set(toy_datasets)]
    sample_files, grid_files = InputFiles(samples), InputFiles(critic_grids)

    def p(stem: str) -> list[Path]:
        if stem not in stems:
            raise AssertionError(f"figure {stem!r} is not one of gan.layout.figure_stems")
        return [Path(layout.figure(stem, f)) for f in formats]

    out: dict[str, list[Path]] = {}
    out["convergence_steps"] = plot_convergence(scores_df, p("convergence_steps"), x="step", primary=primary,
                                                datasets=datasets, floors=floors_df)
    out["convergence_wallclock"] = plot_convergence(scores_df, p("convergence_wallclock"), x="wall_clock_s",
                                                    primary=primary, datasets=datasets, floors=floors_df)
    corr = []
    for d in datasets:
        corr.append(plot_critic_estimate(training_df, scores_df, p(f"critic_{d}"), datasets=[d], primary=primary))
        out[f"critic_{d}"] = p(f"critic_{d}")
    corr_df = pd.concat([c for c in corr if len(c)], ignore_index=True) if any(len(c) for c in corr) else \
        pd.DataFrame(columns=["dataset", "objective", "quantity", "metric", "rho", "p", "n", "note"])
    out["critic_correlation"] = [write_csv(corr_df, Path(layout.critic_correlation))]
    if toy:
        real = {}
        for r in references:
            try:
                real[str(r["dataset"])] = np.asarray(read_npz(r["path"])["points"], dtype=float)
            except (OSError, ValueError, KeyError) as exc:  # the panel shows no real points; the log says why
                warnings.warn(f"real points of {r['dataset']} from {r['path']}: {exc}", stacklevel=2)
        out["toy_critics"] = plot_toy_critics(runs_df, p("toy_critics"), datasets=toy, critic_grids=grid_files,
                                              samples=sample_files, real_points=real, training=training_df,
                                              seed=seed, n_points=n_points)
    for d in datasets:
        out[f"samples_{d}"] = plot_samples(runs_df, d, p(f"samples_{d}"), samples=sample_files, seed=seed)
        out[f"samples_strip_{d}"] = plot_sample_strip(runs_df, d, p(f"samples_strip_{d}"), samples=sample_files,
                                                      seed=seed)
    out["final_distribution"] = plot_final_distribution(scores_df, p("final_distribution"), primary=primary,
                                                        datasets=datasets)
    return out
