"""The critic's training signal: ``critic_{dataset}`` shows the Wasserstein estimate (wgan, wgan-gp) or the
discriminator loss (gan, gan-minimax) vs generator iterations (mean and 95 % t-interval over seeds), and the same
at checkpoint steps against the score, with Spearman's rho computed within each run and summarised over seeds
(mean and 95 % t-interval, cut to [-1, 1] where it reaches past, as its note says). Its rows go into
``critic_correlation.csv``: one row per run, one summary row per dataset and objective."""
from __future__ import annotations

import math
from typing import Sequence

from gan.report.figures.style import (aggregate, auto_log, datasets_in, empty_panel, figure_legend, figure_style,
                                      kilo, legend_handles, markers_for, matplotlib, mean_band, np, palette_for,
                                      pd, plt, save_figures, stats, ticker)
from gan.report.registry import register_figure

CORRELATION_COLUMNS = ["dataset", "objective", "quantity", "metric", "seed", "rho", "n_checkpoints", "p", "p_min",
                       "test", "n_seeds", "n_positive", "n_negative", "note"]


@register_figure(stem="critic_{dataset}", per="dataset", inputs=("training", "scores"), caption="critic.rst",
                 table="critic_correlation", table_caption="critic_correlation.rst")
def critic(out_paths, planned, options, *, training, scores):
    return plot_critic_estimate(training, scores, out_paths, datasets=list(planned.datasets),
                                primary=options.primary)


def critic_quantity(training: pd.DataFrame, objective: str) -> str:
    """'wasserstein' when the objective logs a Wasserstein estimate, else 'loss_d'."""
    sub = training[training["objective"] == objective]
    if "wasserstein" in sub and pd.to_numeric(sub["wasserstein"], errors="coerce").notna().any():
        return "wasserstein"
    return "loss_d"


QUANTITY_LABELS = {"wasserstein": "Wasserstein estimate $-L_\\mathrm{critic}$\n(critic units)",
                   "loss_d": "discriminator loss $L_D$ (nats)"}


def _step_cmap():
    """Greys from light to black: the marker fill of a checkpoint by its step."""
    return matplotlib.colors.LinearSegmentedColormap.from_list(
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
                         datasets: Sequence[str] | None = None, primary=None, smooth: float = 0.02,
                         max_points: int = 300) -> pd.DataFrame:
    """Critic/discriminator training signal vs iterations (top row of each dataset) and vs the score at
    checkpoint steps (bottom row, Spearman rho in each panel title). Returns the correlation rows (the figure's table,
    critic_correlation.csv). Curves are running means over `smooth` x (log rows) of each run, then mean +
    95 % CI over seeds."""
    ds_list = datasets_in(training, datasets)
    if datasets is not None:
        ds_list = list(dict.fromkeys(list(datasets)))
    corr_rows = []
    with figure_style():
        objs_all = aggregate.objective_order(training["objective"].unique()) if len(training) else []
        ncols = max(1, len(objs_all))
        nrows = 2 * max(1, len(ds_list))
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows + 0.8), squeeze=False,
                                 layout="constrained")
        pal, mk = palette_for(objs_all), markers_for(objs_all)
        smax = float(pd.to_numeric(scores["step"], errors="coerce").max()) if len(scores) else 1.0
        smax = smax if np.isfinite(smax) and smax > 0 else 1.0
        if not ds_list or not objs_all:
            for ax in axes.flat:
                empty_panel(ax, "no training logs")
        for i, ds in enumerate(ds_list):
            tr_ds = training[training["dataset"] == ds]
            sc_ds = scores[scores["dataset"] == ds] if len(scores) else scores
            m = aggregate.primary_metric(sc_ds, ds, primary) if len(sc_ds) else None
            shade = None
            for j, obj in enumerate(objs_all):
                ax_t, ax_s = axes[2 * i, j], axes[2 * i + 1, j]
                tr = tr_ds[tr_ds["objective"] == obj]
                q = critic_quantity(tr_ds, obj)
                ax_t.set_title(f"{ds} · {obj}")
                if tr.empty or q not in tr or pd.to_numeric(tr[q], errors="coerce").notna().sum() == 0:
                    empty_panel(ax_t, f"no {q} logged")
                    empty_panel(ax_s, "–")
                    continue
                sm = _smooth_runs(tr, q, smooth, max_points)
                mean_band(ax_t, stats.band_over_seeds(sm, "step", q), "step", pal[obj])
                ax_t.set_xlabel("generator iterations")
                ax_t.set_ylabel(QUANTITY_LABELS.get(q, q))
                ax_t.xaxis.set_major_formatter(ticker.FuncFormatter(kilo))
                # vs score at checkpoints
                if m is None:
                    empty_panel(ax_s, "no scores")
                    continue
                pts = critic_at_checkpoints(tr, sc_ds[sc_ds["objective"] == obj], q, m, smooth)
                res = stats.within_run_spearman(pts, q, m)
                ids = {"dataset": ds, "objective": obj, "quantity": q, "metric": m}
                corr_rows += [{**ids, "seed": r["seed"], "rho": r["rho"], "n_checkpoints": r["n"],
                               "note": r["note"]} for r in res["per_run"]]
                corr_rows.append({**ids, "seed": "mean over seeds", "rho": res["mean_rho"], "p": res["p"],
                                  "p_min": res["p_min"], "test": res["method"], "n_seeds": res["n_runs"],
                                  "n_positive": res["n_positive"], "n_negative": res["n_negative"],
                                  "note": res["note"]})
                pts = pts.dropna(subset=[q, m])
                if pts.empty:
                    empty_panel(ax_s, "no scored checkpoints")
                    continue
                for seed, g in pts.groupby("seed"):
                    g = g.sort_values("step")
                    ax_s.plot(g[q], g[m], color=pal[obj], alpha=0.35, linewidth=0.8, zorder=1)
                shade = ax_s.scatter(pts[q], pts[m], c=pts["step"], cmap=_step_cmap(), vmin=0, vmax=smax,
                                     marker=mk[obj], s=30, edgecolor=pal[obj], linewidth=1.2, zorder=2)
                if res["n_runs"] >= 1:
                    rho = (f"mean {res['mean_rho']:.2f}, > 0 in {res['n_positive']}/{res['n_runs']}\n"
                           f"exact permutation p = {res['p']:.2g}")
                else:
                    rho = "undefined\n(no run with 3+ scored checkpoints)"
                ax_s.set_title(f"within-run ρ: {rho}", fontsize=9)
                _x_label_with_scale(ax_s, pts[q], QUANTITY_LABELS.get(q, q).replace("\n", " "))
                ax_s.set_ylabel(aggregate.metric_spec(m).axis_label())
                auto_log(ax_s, pts[m])
            if shade is not None:
                cb = fig.colorbar(shade, ax=axes[2 * i + 1, :].tolist(), shrink=0.8, pad=0.01, aspect=25)
                cb.set_label("generator iterations\n(marker fill)")
                cb.ax.yaxis.set_major_formatter(ticker.FuncFormatter(kilo))
        if len(objs_all):
            handles = legend_handles(objs_all)
            figure_legend(fig, handles)
        corr = pd.DataFrame(corr_rows, columns=CORRELATION_COLUMNS)
        save_figures(fig, out_paths)
        return corr


def _x_label_with_scale(ax, values, label: str) -> None:
    """Put a power-of-ten multiplier of tiny or huge x values into the axis label: matplotlib's own offset text
    sits on the label's line and overlaps it (WGAN's clipped critic: estimates of 1e-5)."""
    finite = np.abs(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    exp = int(np.floor(np.log10(finite.max()))) if finite.size else 0
    if -3 < exp < 4:
        ax.set_xlabel(label)
        return
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos=None: f"{v / 10.0 ** exp:g}"))
    ax.set_xlabel(f"{label}\n(ticks $\\times 10^{{{exp}}}$)")
