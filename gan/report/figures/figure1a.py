"""WGAN-GP paper, Figure 1(a): value surfaces of critics trained to optimality, clipping (top) vs penalty (bottom).

Reads only the npz files of :func:`gan.optimal_critic.optimal_critic_file` (their identity, dataset and constraint,
is in the files) and writes

- the figure (PDF + PNG): row 1 weight clipping, row 2 gradient penalty, one column per toy dataset; filled contours
  of the critic's value over [-lim, lim]^2 (arbitrary units per panel), real points (dark +), points of the fixed
  "generator" (data + Gaussian noise, light), and the median ||grad D|| at interpolates in the corner; row 3: the
  critic's Wasserstein estimate over the updates, divided by its final value (mean of the last 10 %), so both
  constraints' curves can be seen to flatten on one axis (the legend gives the final values, the penalty's against
  the exact W1 of the fixed pair of distributions);
- the gradient-norm table (CSV and Markdown): ||grad_x D(x)|| at real, noisy and interpolated points, mean, std,
  5/50/95 % quantiles and the fraction within [0.9, 1.1], per dataset and constraint, with the settings.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

from gan.atomic import write_text
from gan.optimal_critic import CONSTRAINTS, GRAD_STATS, load_optimal_critic
from gan.report.figures.style import REAL_COLOUR, figure_style, np, palette_for, pd, plt, save_figures
from gan.report.registry import register_figure

#: display of each constraint (row label); its colour in the loss-curve row is its objective's (CONSTRAINTS)
CONSTRAINT_LABEL = {"clipping": "weight clipping", "penalty": "gradient penalty"}
NOISY_COLOUR = "#0072B2"
TABLE_COLUMNS = ["dataset", "constraint", "where", "n", *GRAD_STATS, "gp_lambda", "clip_value", "noise_std", "steps",
                 "batch_size", "width", "lr", "pairing", "flat_rel_change", "w_estimate", "w1_exact"]


def _constraint_setting(d: dict) -> str:
    if d["constraint"] == "clipping":
        return f"c = {d['clip_value']:g}"
    return f"λ = {d['gp_lambda']:g}"


def _order(items: Iterable[str], preferred: Sequence[str] | None) -> list[str]:
    items = list(dict.fromkeys(items))
    if not preferred:
        return items
    return [x for x in preferred if x in items] + [x for x in items if x not in preferred]


def load_critics(paths: Iterable[str | Path]) -> dict[tuple[str, str], dict]:
    """{(dataset, constraint): file contents}; a (dataset, constraint) given twice is an error."""
    out: dict[tuple[str, str], dict] = {}
    for p in paths:
        d = load_optimal_critic(p)
        key = (str(d["dataset"]), str(d["constraint"]))
        if key in out:
            raise ValueError(f"two files for dataset {key[0]!r}, constraint {key[1]!r} (second: {p})")
        out[key] = d
    return out


def gradient_table(critics: dict[tuple[str, str], dict], datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, constraint, where the norms were measured)."""
    rows = []
    for ds in _order([k[0] for k in critics], datasets):
        for c in _order([k[1] for k in critics if k[0] == ds], list(CONSTRAINTS)):
            d = critics[(ds, c)]
            for i, where in enumerate(d["grad_where"]):
                stats = dict(zip(d["grad_stat_names"], map(float, d["grad_stats"][i])))
                rows.append({"dataset": ds, "constraint": c, "where": where, "n": int(d["settings"]["n_eval"]),
                             **stats, "gp_lambda": d["gp_lambda"], "clip_value": d["clip_value"],
                             "noise_std": d["noise_std"], "steps": d["steps"], "batch_size": d["batch_size"],
                             "width": d["width"], "lr": d["lr"], "pairing": d["pairing"],
                             "flat_rel_change": d["flat_rel_change"], "w_estimate": d["w_estimate"],
                             "w1_exact": d["w1_exact"]})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _lambdas(critics: dict) -> str:
    lams = sorted({d["gp_lambda"] for (_, c), d in critics.items() if c == "penalty"})
    return ", ".join(f"{v:g}" for v in lams) if lams else "n/a"


def write_gradient_table(table: pd.DataFrame, critics: dict, csv_path: str | Path | None,
                         md_path: str | Path | None, html_path: str | Path | None = None) -> list[Path]:
    """The table as .csv (every number), and as .md and .html (its page in the report): the shown columns with
    the notes on how it was computed."""
    from gan.report.tables import to_html, to_markdown  # pandas: imported where a table is written

    written = []
    if csv_path is not None:
        write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
        written.append(Path(csv_path))
    if md_path is not None or html_path is not None:
        shown = table[["dataset", "constraint", "where", *GRAD_STATS, "w_estimate", "w1_exact"]].copy()
        for col in (*GRAD_STATS, "w_estimate", "w1_exact"):
            shown[col] = shown[col].map(lambda v: f"{v:.3g}")
        shown = shown.rename(columns={"frac_0.9_1.1": "share in [0.9, 1.1]", "q05": "5%", "q50": "median",
                                      "q95": "95%", "w_estimate": "W estimate", "w1_exact": "exact W1"})
        any_d = next(iter(critics.values()), None)
        notes = []
        if any_d is not None:
            notes.append(f"||grad_x D(x)||_2 of critics trained for {any_d['steps']} updates against a fixed "
                         f"'generator' = data + N(0, {any_d['noise_std']:g}^2 I) (fake batches: {any_d['pairing']} "
                         f"real batch + noise), at {any_d['settings']['n_eval']} fresh points of each kind; "
                         f"interpolates x^ = eps x + (1 - eps) x~ as in the penalty. W estimate: the critic's "
                         f"mean D(real) - mean D(noisy) over its last 10 % of updates; exact W1: optimal transport "
                         f"between {any_d['w1_n']} real and {any_d['w1_n']} noisy points (what a 1-Lipschitz "
                         f"optimal critic reaches; a clipped critic estimates K times W1 for some small K).")
        notes.append(f"Gradient penalty with lambda = {_lambdas(critics)} (the WGAN-GP paper's value is 10, "
                     f"gan_toy.py's 0.1); weight clipping at c = 0.01 (RMSProp 5e-5); penalty: Adam(1e-4, (0.5, 0.9)).")
        title = "Figure 1(a): gradient norms of optimal critics"
        for path, render in ((md_path, to_markdown), (html_path, to_html)):
            if path is not None:
                write_text(path, render(shown, title, notes))
                written.append(Path(path))
    return written


def _surface_panel(ax, d: dict | None, title: str, n_scatter: int = 300) -> None:
    ax.grid(False)
    ax.set_title(title)
    if d is None:
        ax.text(0.5, 0.5, "no file", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    lim = float(d["lim"])
    Z = np.asarray(d["values"], dtype=float)
    if np.isfinite(Z).any() and np.nanmax(Z) > np.nanmin(Z):
        cf = ax.contourf(d["x"], d["y"], Z, levels=16, cmap="Greys", alpha=0.6, zorder=0)
        ax.contour(d["x"], d["y"], Z, levels=cf.levels, colors="0.35", linewidths=0.45, alpha=0.7, zorder=1,
                   linestyles="solid")
        cb = ax.figure.colorbar(cf, ax=ax, shrink=0.85, pad=0.02, aspect=25)
        cb.formatter.set_useOffset(True)  # clipped critics vary in the 4th significant digit
        cb.ax.tick_params(labelsize=7)
        cb.ax.yaxis.get_offset_text().set_fontsize(7)
    else:
        ax.text(0.02, 0.02, "critic constant / non-finite", transform=ax.transAxes, fontsize=8)
    noisy, real = np.asarray(d["noisy"])[:n_scatter], np.asarray(d["real"])[:n_scatter]
    ax.scatter(noisy[:, 0], noisy[:, 1], s=5, color=NOISY_COLOUR, edgecolors="none", alpha=0.35, zorder=2)
    ax.scatter(real[:, 0], real[:, 1], s=14, c=REAL_COLOUR, marker="+", linewidths=0.7, alpha=0.8, zorder=3)
    i, j = list(d["grad_where"]).index("interpolates"), list(d["grad_stat_names"]).index("q50")
    near = list(d["grad_stat_names"]).index("frac_0.9_1.1")
    ax.text(0.02, 0.02, f"median ‖∇D‖ (interp.) {d['grad_stats'][i, j]:.3g}\nshare in [0.9, 1.1]: "
            f"{d['grad_stats'][i, near]:.0%}", transform=ax.transAxes, fontsize=7.5, va="bottom",
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "none", "alpha": 0.8}, zorder=5)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    return np.convolve(y, kernel, mode="valid")


def _curve_panel(ax, critics: dict, dataset: str) -> None:
    drawn = False
    for c in CONSTRAINTS:
        d = critics.get((dataset, c))
        if d is None:
            continue
        w = np.asarray(d["wasserstein"], dtype=float)
        k = max(1, len(w) // 10)
        final = w[-k:].mean()
        window = max(1, len(w) // 50)
        sm = _smooth(w, window)
        steps = np.arange(len(sm)) + window
        if final != 0 and math.isfinite(final):
            exact = f" (W1 {d['w1_exact']:.2f})" if c == "penalty" else ""
            ax.plot(steps, sm / final, color=palette_for([CONSTRAINTS[c]])[CONSTRAINTS[c]], lw=1.4,
                    label=f"{c}: {final:.2g}{exact}, Δ {d['flat_rel_change']:.1%}")
            drawn = True
    if drawn:
        ax.axhline(1.0, color="0.5", lw=0.7, ls="--", zorder=0)
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, -0.5), 2.1)
        ax.legend(loc="upper left", fontsize=7, frameon=False, title="final estimate, last-10 % change",
                  title_fontsize=7, alignment="left")
    ax.set_xlabel("critic updates")
    ax.set_ylabel("W estimate / final")
    ax.set_title(f"{dataset}: critic's W estimate", fontsize=10)


# Its own stage (workflow/rules/figure1a.smk), which calls make_figure1a: the registry gives its stem, folder and
# caption, and make_figure1a draws it with this function's own arguments.
@register_figure(stem="figure1a", per="benchmark", stage="figure1a", caption="figure1a.rst")
def plot_figure1a(critics: dict[tuple[str, str], dict], out_paths: Sequence[str | Path],
                  datasets: Sequence[str] | None = None) -> list[Path]:
    cols = _order([k[0] for k in critics], datasets) or list(datasets or [])
    if not cols:
        raise ValueError("no optimal-critic files to plot")
    with figure_style():
        fig = plt.figure(figsize=(4.4 * len(cols), 3.9 * 2 + 2.8), layout="constrained")
        gs = fig.add_gridspec(3, len(cols), height_ratios=[3.9, 3.9, 2.8])
        for j, ds in enumerate(cols):
            for i, c in enumerate(CONSTRAINTS):
                d = critics.get((ds, c))
                ax = fig.add_subplot(gs[i, j])
                setting = f" ({_constraint_setting(d)})" if d is not None else ""
                _surface_panel(ax, d, f"{ds}: {CONSTRAINT_LABEL[c]}{setting}")
                if j == 0:
                    ax.set_ylabel(f"{CONSTRAINT_LABEL[c]}\nx₂")
            _curve_panel(fig.add_subplot(gs[2, j]), critics, ds)
        any_d = next(iter(critics.values()))
        fig.suptitle(f"WGAN-GP Figure 1(a): critics trained against a fixed 'generator' = data + N(0, "
                     f"{any_d['noise_std']:g}²I): weight clipping (top) vs gradient penalty, λ = {_lambdas(critics)} "
                     f"(bottom); {any_d['steps']} updates, width {any_d['width']}", fontsize=11)
        return save_figures(fig, out_paths)


def make_figure1a(critic_files: Iterable[str | Path], *, figure_paths: Sequence[str | Path] = (),
                  table_csv: str | Path | None = None, table_md: str | Path | None = None,
                  table_html: str | Path | None = None,
                  datasets: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """The figure and the gradient-norm table from the optimal-critic files (what the figure1a rule calls)."""
    critics = load_critics(critic_files)
    written = {"table": write_gradient_table(gradient_table(critics, datasets), critics, table_csv, table_md,
                                             table_html)}
    written["figure"] = plot_figure1a(critics, figure_paths, datasets) if figure_paths else []
    return written
