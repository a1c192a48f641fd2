"""Result tables from the aggregated CSVs: final scores, pairwise objective comparisons and the toy table.

Each table is written four ways into `out_dir` (atomically): ``<name>.csv`` (numbers, full precision, for
machines), ``<name>.md`` (Markdown via pandas/tabulate), ``<name>.tex`` (LaTeX booktabs `table` via pandas
Styler) and ``<name>.html`` (a page the Snakemake report shows inline), the last three with the same rows, a
caption and footnotes recording the evaluation protocol.

Definitions used throughout (also stated in the captions and notes):
- *final step*: the largest checkpoint step of a (dataset, objective) in scores.csv.
- *finished / diverged*: a run's status. Means, std, medians and best-over-checkpoints are over FINISHED runs
  only; the success rate finished / (finished + diverged), with its exact Clopper-Pearson 95% interval, stands
  beside them. In the pairwise tests a diverged run is the worst outcome (ranked below every finished run).
- *best over checkpoints*: the best point of the mean-over-seeds curve of the finished runs (value and step).
  The CSV also holds the mean over finished seeds of each seed's own best checkpoint.
- std is the sample standard deviation over seeds (ddof = 1).
- *floor*: the real-vs-real value of a metric at the same N and protocol (floors.csv, when the DAG made it).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from gan.atomic import write_text
from gan.layout import ALL_METRICS_TABLE
from gan.report.aggregate import (is_toy_dataset, metric_columns, metric_spec,
                                  objective_order, primary_metric, read_table, write_csv)
from gan.report.stats import (MIN_N, NO_TEST, mean_std, min_p_paired, min_p_unpaired, pairwise_comparisons,
                              seeds_needed, success_rate, t_interval)

DASH = "–"


# --------------------------------------------------------------------------------------------------------------
# Number formatting
# --------------------------------------------------------------------------------------------------------------

def _finite(x) -> bool:
    try:
        return x is not None and not pd.isna(x) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _decimals(mean: float, std: float | None = None, sig: int = 3) -> int:
    """Decimals so that std shows 2 significant digits (or the mean `sig` digits when there is no std)."""
    if std is not None and _finite(std) and std > 0:
        return int(min(6, max(0, 1 - math.floor(math.log10(abs(std))))))
    if _finite(mean) and mean != 0:
        return int(min(6, max(0, sig - 1 - math.floor(math.log10(abs(mean))))))
    return 0


def fmt_num(x, sig: int = 3) -> str:
    if not _finite(x):
        return DASH
    x = float(x)
    if x != 0 and (abs(x) < 1e-4 or abs(x) >= 1e6):
        return f"{x:.{sig - 1}e}"
    return f"{x:.{_decimals(x, None, sig)}f}"


def fmt_mean_std(mean, std, n: int | None = None) -> str:
    """'12.3 ± 0.45' with the std's precision; just the mean when there is no std (n < 2)."""
    if not _finite(mean):
        return DASH
    if not _finite(std):
        return fmt_num(mean)
    d = _decimals(mean, std)
    if abs(float(mean)) < 1e-4 and mean != 0:
        return f"{mean:.2e} ± {std:.1e}"
    return f"{float(mean):.{d}f} ± {float(std):.{d}f}"


def fmt_p(p) -> str:
    if not _finite(p):
        return DASH
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


# --------------------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------------------

_TEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_SYMBOLS = {"±": r"$\pm$", DASH: "--", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "≥": r"$\geq$",
                "≤": r"$\leq$", "Δ": r"$\Delta$", "−": r"$-$", "×": r"$\times$", "<": r"$<$", ">": r"$>$", "ρ": r"$\rho$", "δ": r"$\delta$"}


def tex_escape(text) -> str:
    s = "".join(_TEX_ESCAPE.get(c, c) for c in str(text))
    return "".join(_TEX_SYMBOLS.get(c, c) for c in s)


def to_markdown(df: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> str:
    parts = [f"**{title}**\n"] if title else []
    # numbers are already formatted: keep them as written (no re-parsing into floats)
    parts.append(df.to_markdown(index=False, disable_numparse=True) if len(df) else "_(no rows)_")
    if notes:
        parts.append("\n" + "\n".join(f"{i}. {n}" if len(notes) > 1 else n for i, n in enumerate(notes, 1)))
    return "\n".join(parts) + "\n"


def to_latex(df: pd.DataFrame, caption: str = "", label: str = "", notes: Sequence[str] = (),
             align: str | None = None) -> str:
    """A booktabs `table` (pandas Styler) with the caption on top and `notes` in small print below."""
    esc = df.copy()
    esc.columns = [tex_escape(c) for c in esc.columns]
    esc = esc.astype(object).map(tex_escape) if len(esc) else esc
    if align is None:
        align = "".join("l" if i < _n_text_cols(df) else "r" for i in range(len(df.columns)))
    styler = esc.style.hide(axis="index")
    tex = styler.to_latex(hrules=True, column_format=align, caption=tex_escape(caption) if caption else None,
                          label=label or None, position="htbp", position_float="centering",
                          environment="table")
    if notes:
        text = "\\par\\smallskip\n{\\footnotesize " + " \\\\\n".join(tex_escape(n) for n in notes) + "\\par}\n"
        tex = tex.replace("\\end{table}", text + "\\end{table}")
    return tex


HTML_STYLE = ("body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse}"
              "th,td{padding:3px 8px;border-bottom:1px solid #ddd;white-space:nowrap}td{text-align:right}"
              "th{background:#f4f4f4;text-align:left}ol,p{max-width:60em;color:#333}")


def to_html(df: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> str:
    """A self-contained page: the caption, the table as written in the Markdown one, the notes."""
    from html import escape

    body = df.to_html(index=False, escape=True, border=0, na_rep="") if len(df) else "<p>(no rows)</p>"
    # the leading text columns (dataset, objective, metric, ...) left, numbers right, as the LaTeX table has them
    style = HTML_STYLE + f"td:nth-child(-n+{_n_text_cols(df)}){{text-align:left}}" if len(df) else HTML_STYLE
    head = f"<h3>{escape(title)}</h3>\n" if title else ""
    foot = ("<ol>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ol>\n") if notes else ""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{style}</style></head>\n<body>\n{head}{body}\n{foot}</body></html>\n")


#: the most rows a page shows; a longer table (training.csv of a long benchmark) shows every k-th row, and says so
HTML_MAX_ROWS = 2000


def write_html(df: pd.DataFrame, path: str | Path, title: str, notes: Sequence[str] = (),
               max_rows: int = HTML_MAX_ROWS) -> Path:
    """The page the Snakemake report shows for a table of numbers (its CSV beside it, same stem, stays the data):
    floats to 3 significant digits, at most `max_rows` rows (evenly spaced, the first and every k-th), with
    `notes` and a last note saying so."""
    notes = list(notes)
    notes.append(f"Numbers to 3 significant digits; {Path(path).stem}.csv holds them at full precision.")
    if len(df) > max_rows:
        k = -(-len(df) // max_rows)
        shown = df.iloc[::k]
        notes.append(f"{len(shown)} of the {len(df)} rows are shown, one in {k} from the first; "
                     f"{Path(path).stem}.csv holds them all.")
        df = shown
    readable = df.map(lambda v: fmt_num(v) if isinstance(v, float) else v)
    write_text(path, to_html(readable, title, notes))
    return Path(path)


def _n_text_cols(df: pd.DataFrame) -> int:
    n = 0
    for c in df.columns:
        if str(c).lower() in ("dataset", "objective", "metric", "a", "b", "a vs b", "better", "constraint", "where"):
            n += 1
        else:
            break
    return max(n, 1)


def write_table(numeric: pd.DataFrame, display: pd.DataFrame, out_dir: str | Path, name: str, caption: str,
                notes: Sequence[str] = ()) -> list[Path]:
    """`numeric` -> name.csv; `display` -> name.md, name.tex and name.html (with `caption` and `notes`)."""
    out_dir = Path(out_dir)
    paths = [write_csv(numeric, out_dir / f"{name}.csv")]
    md, tex, html = out_dir / f"{name}.md", out_dir / f"{name}.tex", out_dir / f"{name}.html"
    write_text(md, to_markdown(display, caption, notes))
    write_text(tex, to_latex(display, caption, f"tab:{name}", notes))
    write_text(html, to_html(display, caption, notes))
    return paths + [md, tex, html]


# --------------------------------------------------------------------------------------------------------------
# Derived frames
# --------------------------------------------------------------------------------------------------------------

def final_step_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per run at the final step of its (dataset, objective) (missing scores stay NaN)."""
    if scores.empty:
        return scores.copy()
    last = scores.groupby(["dataset", "objective"])["step"].transform("max")
    rows = scores[scores["step"] == last]
    return rows.drop_duplicates(["dataset", "objective", "seed"], keep="last").reset_index(drop=True)


def finished_mask(df: pd.DataFrame) -> pd.Series:
    """Rows of runs that finished (run_status "finished"; every row when the column is absent)."""
    if "run_status" not in df:
        return pd.Series(True, index=df.index)
    return df["run_status"] == "finished"


def _runs_per_cell(scores: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """Per (dataset, objective): n_runs, n_finished, n_diverged, the success rate finished / (finished + diverged)
    with its exact Clopper-Pearson 95% interval, and seconds per 1k generator iterations."""
    cols = ["dataset", "objective", "n_runs", "n_finished", "n_diverged", "success_rate", "success_low",
            "success_high", "s_per_1k_mean", "s_per_1k_std"]
    rows = []

    def row(ds, obj, n_runs, fin, div, t=None):
        sr = success_rate(fin, fin + div)
        t = pd.Series(dtype=float) if t is None else t
        return [ds, obj, n_runs, fin, div, sr["rate"], sr["low"], sr["high"],
                t.mean() if t.notna().any() else math.nan, t.std(ddof=1) if t.notna().sum() > 1 else math.nan]

    if runs is not None and len(runs) and "status" in runs:
        for (ds, obj), g in runs.groupby(["dataset", "objective"], sort=False):
            t = pd.to_numeric(g.get("s_per_1k_gen_iters", pd.Series(dtype=float)), errors="coerce")
            rows.append(row(ds, obj, len(g), int((g["status"] == "finished").sum()),
                            int((g["status"] == "diverged").sum()), t))
    elif len(scores):
        for (ds, obj), g in scores.groupby(["dataset", "objective"], sort=False):
            if "run_status" in g:
                status = g.drop_duplicates("seed", keep="last")["run_status"]
                fin, div = int((status == "finished").sum()), int((status == "diverged").sum())
            else:
                fin, div = g["seed"].nunique(), 0
            rows.append(row(ds, obj, g["seed"].nunique(), fin, div))
    return pd.DataFrame(rows, columns=cols)


def summarize_metric(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (dataset, objective): final-step statistics and best over checkpoints of `metric`, over FINISHED runs
    only (a diverged run's earlier checkpoints are left out too, so every number has the same denominator)."""
    spec = metric_spec(metric)
    final = final_step_rows(scores)
    final = final[finished_mask(final)]
    rows = []
    for (ds, obj), all_rows in scores.groupby(["dataset", "objective"], sort=False):
        sub = all_rows[finished_mask(all_rows)]
        fin = final[(final["dataset"] == ds) & (final["objective"] == obj)][metric]
        mean, std, n = mean_std(fin)
        vals = pd.to_numeric(fin, errors="coerce").dropna()
        row = {"dataset": ds, "objective": obj, "metric": metric, "final_step": int(all_rows["step"].max()),
               "mean": mean, "std": std, "n": n, "median": float(vals.median()) if n else math.nan,
               "min": float(vals.min()) if n else math.nan, "max": float(vals.max()) if n else math.nan}
        ci = t_interval(fin)
        row.update(ci_low=ci[0], ci_high=ci[1])
        curve = sub.groupby("step")[metric].agg(["mean", "count"])
        curve = curve[curve["count"] > 0]
        best_val = best_step = best_n = math.nan
        seed_best_mean = seed_best_std = math.nan
        if spec.higher_is_better is not None and len(curve):
            idx = curve["mean"].idxmax() if spec.higher_is_better else curve["mean"].idxmin()
            best_val, best_step, best_n = float(curve.loc[idx, "mean"]), int(idx), int(curve.loc[idx, "count"])
            per_seed = sub.groupby("seed")[metric].agg("max" if spec.higher_is_better else "min")
            seed_best_mean, seed_best_std, _ = mean_std(per_seed)
        row.update(best_mean_curve=best_val, best_mean_curve_step=best_step, best_mean_curve_n=best_n,
                   mean_of_seed_best=seed_best_mean, std_of_seed_best=seed_best_std)
        rows.append(row)
    return pd.DataFrame(rows)


def protocol_notes(scores: pd.DataFrame, datasets: Sequence[str] | None = None) -> list[str]:
    """One line per dataset recording N_gen/N_real, split and FID mode/extractor of its ok scores."""
    notes = []
    ok = scores[scores["status"] == "ok"] if "status" in scores else scores
    for ds in datasets if datasets is not None else sorted(scores["dataset"].unique()):
        sub = ok[ok["dataset"] == ds]
        parts = []
        for col, label in (("n_gen", "N_gen"), ("n_real", "N_real"), ("split", "split"), ("mode", "mode"),
                           ("extractor", "extractor"), ("eval_seed", "eval seed")):
            if col in sub:
                vals = [v for v in pd.unique(sub[col].dropna())]
                if vals:
                    vals = [str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v) for v in vals]
                    parts.append(f"{label}={'/'.join(sorted(set(vals)))}")
        if parts:
            notes.append(f"{ds}: " + ", ".join(parts))
    return notes


def _first_sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    end = text.find(". ")
    return (text[:end] if end >= 0 else text).rstrip(".")


def code_notes(keys: Sequence[str]) -> list[str]:
    """Which code produced each number: for every metric key shown, the registered function that computed it and
    the feature space it ran in (the extractor's module), read from the metric registry."""
    import sys

    from gan.metrics.registry import extractor, metric_keys

    known, notes = metric_keys(), []
    for key in dict.fromkeys(keys):
        if key not in known:
            continue
        metric, space, output = known[key]
        fn = getattr(metric.fn, "__wrapped__", metric.fn)
        unit = extractor(space)
        where = sys.modules.get(unit.__module__)
        notes.append(f"{output.label} ({key}): computed by {fn.__module__}.{fn.__name__} "
                     f"({_first_sentence(fn.__doc__)}) on the '{metric.feature_in(space)}' features of the "
                     f"'{space}' extractor ({unit.__module__}: {_first_sentence(where.__doc__ if where else '')}).")
    return notes


def negative_floor_notes(floors: pd.DataFrame | None) -> list[str]:
    """Why a floor below 0 is no error: one note per metric whose real-vs-real mean is negative."""
    if floors is None or "floor_mean" not in floors:
        return []
    below = floors[pd.to_numeric(floors["floor_mean"], errors="coerce") < 0]
    notes = []
    for metric, rows in below.groupby("metric", sort=True):
        spec = metric_spec(metric)
        where = ", ".join(f"{r.dataset} {fmt_num(r.floor_mean)}" for r in rows.itertuples())
        notes.append(f"{spec.label} ({metric}) has a negative floor ({where}): it is an unbiased estimate (KID: of "
                     "the squared maximum mean discrepancy with a cubic polynomial kernel) of a quantity that is 0 "
                     "for identical distributions, so real-vs-real values scatter around 0 and below it; compare a "
                     "model with the floor and its spread, not with 0. Its unit is the kernel's, in its feature "
                     "space: values compare only within one space and one N.")
    return notes


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    order = {o: i for i, o in enumerate(objective_order(df["objective"].unique()))}
    return (df.assign(_o=df["objective"].map(order)).sort_values(["dataset", "_o"], kind="stable")
              .drop(columns="_o").reset_index(drop=True))


# --------------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------------

FLOOR_ROW = "real data (floor)"


def _floor(floors: pd.DataFrame | None, dataset: str, metric: str | None) -> tuple[float, float, float]:
    """(floor_mean, floor_std, floor_repeats) of `metric` on `dataset`; NaN when floors.csv has none."""
    if floors is None or not len(floors) or not metric:
        return math.nan, math.nan, math.nan
    sel = floors[(floors["dataset"] == dataset) & (floors["metric"] == metric)]
    if not len(sel):
        return math.nan, math.nan, math.nan
    r = sel.iloc[-1]
    get = lambda c: float(pd.to_numeric(r.get(c, math.nan), errors="coerce"))  # noqa: E731
    return get("floor_mean"), get("floor_std"), get("floor_repeats")


def floor_notes(floors: pd.DataFrame | None, datasets: Sequence[str]) -> list[str]:
    """What the floor rows are, with each dataset's N_gen / N_real and repeats (or that there are none)."""
    if floors is None:
        return ["No real-vs-real floors in these results (floors.csv absent or empty): a model's distance to the real data "
                "cannot be told apart from sampling noise here."]
    notes = [f"'{FLOOR_ROW}': each metric computed on fresh real samples against the same reference, at the same N "
             "and protocol as the generated samples, mean ± std over the floor repeats: what a perfect generator "
             "scores (a floor for distances such as FID, KID and W1; the real data's own value for counts and "
             "fractions, and the line to read higher-is-better scores against: the Inception Score, precision, "
             "recall, density and coverage, which real data does not max out). A model within the floor's spread "
             "of it is indistinguishable from real data at this N."]
    for ds in datasets:
        sub = floors[floors["dataset"] == ds]
        if not len(sub):
            notes.append(f"{ds}: no floor computed.")
            continue
        parts = []
        for col, label in (("n_gen", "N_gen"), ("n_real", "N_real"), ("floor_repeats", "repeats")):
            if col in sub:
                vals = sorted({str(int(v)) if float(v).is_integer() else str(v)
                               for v in pd.to_numeric(sub[col], errors="coerce").dropna()})
                if vals:
                    parts.append(f"{label}={'/'.join(vals)}")
        extra = [str(n) for n in sub["note"].dropna().unique() if str(n)] if "note" in sub else []
        notes.append(f"{ds} floor: " + ", ".join(parts) + ("; " + "; ".join(extra) if extra else ""))
    return notes


def fmt_success(finished, total, low, high) -> str:
    """'4/5 (0.28–0.99)': finished / ended runs and the Clopper-Pearson 95% interval of the success rate."""
    if not _finite(total) or int(total) == 0:
        return DASH
    return f"{int(finished)}/{int(total)} ({low:.2f}{DASH}{high:.2f})"


MEANS_NOTE = ("Means, std (sample, ddof = 1), medians and 'best' are over FINISHED runs only; a diverged run has no "
              "final score and its earlier checkpoints are left out too. Read them beside 'success' = finished / "
              "(finished + diverged) runs with its exact Clopper-Pearson 95% interval: a mean of 2 survivors out of "
              "5 runs is not comparable with a mean of 5 out of 5.")

FINAL_CAPTION = ("Final scores per dataset and objective at the last checkpoint: mean ± std over the finished runs, "
                 "their number n, the success rate (finished / ended runs, exact 95% interval), the best point of "
                 "the mean-over-seeds curve with its generator iteration, and per dataset the real-vs-real floor.")


def final_scores_table(scores: pd.DataFrame, runs: pd.DataFrame | None = None,
                       primary: dict[str, str] | str | None = None, floors: pd.DataFrame | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """(numeric wide table, display table, long table of every metric, notes)."""
    metrics = metric_columns(scores)
    long = pd.concat([summarize_metric(scores, m) for m in metrics], ignore_index=True) if metrics else \
        pd.DataFrame(columns=["dataset", "objective", "metric"])
    if len(long):
        # a metric a dataset is never scored with (the classifier's on toy points) has no row there
        scored = {(d, m) for m in metrics for d in scores.loc[scores[m].notna(), "dataset"].unique()}
        long = long[[(d, m) in scored for d, m in zip(long["dataset"], long["metric"])]].reset_index(drop=True)
        fl = [_floor(floors, d, m) for d, m in zip(long["dataset"], long["metric"])]
        long["floor_mean"], long["floor_std"], long["floor_repeats"] = (
            [f[0] for f in fl], [f[1] for f in fl], [f[2] for f in fl])
    cells = _runs_per_cell(scores, runs)
    numeric_rows, display_rows = [], []
    datasets = sorted(scores["dataset"].unique())
    for ds in datasets:
        pm = primary_metric(scores, ds, primary)
        spec = metric_spec(pm) if pm else None
        kid = "kid"
        for obj in objective_order(scores.loc[scores["dataset"] == ds, "objective"].unique()):
            c = cells[(cells["dataset"] == ds) & (cells["objective"] == obj)]
            c = c.iloc[0] if len(c) else pd.Series(dtype=object)
            r = {"dataset": ds, "objective": obj, "metric": pm or ""}

            def get(metric, col):
                sel = long[(long["dataset"] == ds) & (long["objective"] == obj) & (long["metric"] == metric)]
                return sel.iloc[0][col] if len(sel) else math.nan

            for col in ("final_step", "mean", "std", "n", "ci_low", "ci_high", "median", "best_mean_curve",
                        "best_mean_curve_step", "best_mean_curve_n", "mean_of_seed_best", "std_of_seed_best"):
                r[col] = get(pm, col) if pm else math.nan
            kid = "kid" if _finite(get("kid", "mean")) or not _finite(get("kid_classifier", "mean")) \
                else "kid_classifier"
            r["kid_metric"] = kid
            r["kid_mean"], r["kid_std"], r["kid_n"] = get(kid, "mean"), get(kid, "std"), get(kid, "n")
            for col in ("n_runs", "n_finished", "n_diverged", "success_rate", "success_low", "success_high"):
                r[col] = c.get(col, math.nan)
            r["s_per_1k_gen_iters_mean"] = c.get("s_per_1k_mean", math.nan)
            r["s_per_1k_gen_iters_std"] = c.get("s_per_1k_std", math.nan)
            r["floor_mean"], r["floor_std"], r["floor_repeats"] = _floor(floors, ds, pm)
            r["kid_floor_mean"], r["kid_floor_std"], _ = _floor(floors, ds, kid)
            numeric_rows.append(r)
            best = (f"{fmt_num(r['best_mean_curve'])} @ {int(r['best_mean_curve_step'])}"
                    if _finite(r["best_mean_curve"]) else DASH)
            ended = (r["n_finished"] + r["n_diverged"]) if _finite(r["n_finished"]) else math.nan
            display_rows.append({
                "dataset": ds, "objective": obj,
                "metric": f"{spec.label} {spec.arrow}".strip() if spec else DASH,
                "final (mean ± std)": fmt_mean_std(r["mean"], r["std"], r["n"]),
                "n": str(int(r["n"])) if _finite(r["n"]) else "0",
                "success (95% CI)": fmt_success(r["n_finished"], ended, r["success_low"], r["success_high"]),
                "median": fmt_num(r["median"]),
                "best @ iter": best,
                "KID ↓": fmt_mean_std(r["kid_mean"], r["kid_std"]),
                "s / 1k iters": fmt_mean_std(r["s_per_1k_gen_iters_mean"], r["s_per_1k_gen_iters_std"]),
            })
        if floors is not None:
            fm, fs, fr = _floor(floors, ds, pm)
            km, ks, _ = _floor(floors, ds, kid)
            display_rows.append({
                "dataset": ds, "objective": FLOOR_ROW,
                "metric": f"{spec.label} {spec.arrow}".strip() if spec else DASH,
                "final (mean ± std)": fmt_mean_std(fm, fs), "n": f"{int(fr)} draws" if _finite(fr) else DASH,
                "success (95% CI)": DASH, "median": DASH, "best @ iter": DASH, "KID ↓": fmt_mean_std(km, ks),
                "s / 1k iters": DASH})
    numeric = pd.DataFrame(numeric_rows)
    display = pd.DataFrame(display_rows)
    notes = ["↓ lower is better, ↑ higher is better; n = finished runs with a final score; 's / 1k iters' = "
             "training wall-clock seconds per 1000 generator iterations.", MEANS_NOTE]
    kid_clf = sorted(numeric.loc[numeric["kid_metric"] == "kid_classifier", "dataset"].unique()) \
        if len(numeric) else []
    if kid_clf:
        notes.append("KID of " + ", ".join(kid_clf) + " is computed on classifier features (kid_classifier).")
    notes += floor_notes(floors, datasets)
    notes += negative_floor_notes(floors)
    shown = [*numeric["metric"].dropna(), *numeric.get("kid_metric", pd.Series(dtype=str)).dropna()]
    notes += code_notes([k for k in shown if k in scores and scores[k].notna().any()])  # keys with a number
    notes += protocol_notes(scores)
    if runs is not None and "device" in runs and runs["device"].notna().any():
        devs = sorted({str(d) for d in runs["device"].dropna() if str(d)})
        if devs:
            notes.append("device: " + "; ".join(devs))
    return numeric, display, _ordered(long) if len(long) else long, notes


ALL_METRICS_CAPTION = ("Every metric's final score, one row per dataset, objective and metric: mean and std over the "
                       "finished runs at the last checkpoint, with the metric's real-vs-real floor (final_scores.csv "
                       "holds the same numbers in wide form)")
PAIRWISE_CAPTION = ("Pairwise comparison of objectives on the final-checkpoint score over seeds: effect size first "
                    "(paired rank-biserial r or Cliff's δ, > 0 when A is better, diverged runs ranked worst; mean "
                    "difference of finished runs with its 95% t-interval), then the exact two-sided p, its Holm "
                    "adjustment within the declared family (each dataset's primary metric; the rest is "
                    "descriptive) and the smallest p attainable at these n.")


def _fmt_effect(r) -> str:
    if not _finite(r["effect"]):
        return DASH
    name = "r" if r["effect_name"] == "r_rb" else "δ"
    return f"{name} = {float(r['effect']):+.2f}"


def _fmt_diff(r) -> str:
    """'-10.2 [-14.0, -6.4]': the mean difference and its interval, at the interval's precision."""
    if not _finite(r["diff"]):
        return DASH
    diff = float(r["diff"])
    if not _finite(r["diff_low"]):
        return fmt_num(diff)
    low, high = float(r["diff_low"]), float(r["diff_high"])
    scale = max(abs(diff), abs(low), abs(high))
    if scale != 0 and (scale < 1e-4 or scale >= 1e6):
        return f"{diff:.2e} [{low:.2e}, {high:.2e}]"
    half = (high - low) / 2
    d = _decimals(diff, half if half > abs(diff) * 1e-9 else None)
    return f"{diff:.{d}f} [{low:.{d}f}, {high:.{d}f}]"


def _fmt_test_p(r) -> str:
    if _finite(r["p"]):
        return fmt_p(r["p"])
    return NO_TEST if NO_TEST in str(r["note"]) else DASH


def family_note(shown: pd.DataFrame) -> str:
    """The declared correction family of the shown rows, and the seeds a member needs to be able to reach 0.05."""
    sizes = sorted({int(k) for k in shown["family_size"].dropna()}) if len(shown) else []
    if not sizes:
        return "Correction family: none tested (no test could be made at these n)."
    needed = "; ".join(f"a family of {k}: {seeds_needed(k)} paired seeds (unpaired: {seeds_needed(k, paired=False)} "
                       "per objective)" for k in sizes)
    return ("Correction family (declared): within each dataset, the pairwise comparisons of the objectives on its "
            "primary metric, the one a conclusion about that dataset rests on; 'Holm p' is adjusted within it "
            "(family size " + ", ".join(map(str, sizes)) + "). Every other metric in pairwise.csv is descriptive: "
            "raw p and effect sizes, family 'descriptive', no adjusted p. For Holm's smallest p to reach 0.05 "
            f"every pair must agree in sign with enough seeds: {needed}.")


def min_p_note(numeric: pd.DataFrame) -> str:
    """The smallest attainable two-sided p of each design in `numeric`, computed from its n."""
    designs = {}
    for _, r in numeric.iterrows():
        if str(r["test"]).startswith("paired") and _finite(r["n_pairs"]):
            # zero differences drop out of the sign-flip test: the smallest p follows from the non-zero ones
            m = int(round(math.log2(2 / r["p_min"]))) if _finite(r["p_min"]) else int(r["n_pairs"])
            zero = f" ({int(r['n_pairs']) - m} tied)" if m != int(r["n_pairs"]) else ""
            designs[(0, int(r["n_pairs"]), m)] = (f"{int(r['n_pairs'])} pairs{zero}: 2/2^{m} = "
                                                  f"{fmt_num(min_p_paired(m), 2)}")
        elif _finite(r["n_a"]) and _finite(r["n_b"]) and r["n_a"] and r["n_b"]:
            na, nb = sorted((int(r["n_a"]), int(r["n_b"])))
            designs[(1, na, nb)] = (f"{na} vs {nb}: 2/C({na + nb},{na}) = "
                                    f"{fmt_num(min_p_unpaired(na, nb), 2)}")
    text = "; ".join(designs[k] for k in sorted(designs)) or "no comparison"
    return ("Smallest two-sided p an exact test can reach (column 'min p'): 2/C(n_A + n_B, n_A) unpaired, "
            f"2/2^m paired (m = pairs with a non-zero difference); here {text}. A p near it is the strongest evidence these seeds can give: read the "
            "effect sizes.")


def pairwise_table(scores: pd.DataFrame, primary: dict[str, str] | str | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(numeric table over every ranked metric, display table of each dataset's primary metric, notes).

    The correction family, declared: within each dataset, the pairwise comparisons on its primary metric (the
    best-ranked registered metric with values); Holm within it. Every other metric is descriptive (raw p, no
    adjusted p)."""
    final = final_step_rows(scores)
    ranked = [m for m in metric_columns(scores) if metric_spec(m).higher_is_better is not None]
    family = {ds: primary_metric(scores, ds, primary) for ds in scores["dataset"].unique()}
    numeric = pairwise_comparisons(final, ranked, by=("dataset",), family=family) if len(final) else \
        pairwise_comparisons(pd.DataFrame(columns=["dataset", "objective", "seed"]), [], by=("dataset",),
                             family=family)
    display_rows = []
    shown = []
    for ds in sorted(scores["dataset"].unique()):
        pm = primary_metric(scores, ds, primary)
        sel = numeric[(numeric["dataset"] == ds) & (numeric["metric"] == pm)]
        shown.append(sel)
        for _, r in sel.iterrows():
            paired = str(r["test"]).startswith("paired")
            display_rows.append({
                "dataset": ds, "metric": metric_spec(pm).label, "A vs B": f"{r['a']} vs {r['b']}",
                "test": "paired" if paired else "unpaired",
                "n": f"{int(r['n_pairs'])} pairs" if paired else f"{int(r['n_a'])}/{int(r['n_b'])}",
                "diverged A/B": f"{int(r['diverged_a'])}/{int(r['diverged_b'])}",
                "effect (> 0: A better)": _fmt_effect(r),
                "Δ mean A − B [95% CI]": _fmt_diff(r),
                "p": _fmt_test_p(r), "Holm p": fmt_p(r["p_holm"]), "min p": fmt_num(r["p_min"], 2),
                "favours": r["better"] or DASH,
            })
    display = pd.DataFrame(display_rows)
    shown = pd.concat(shown, ignore_index=True) if shown else numeric.iloc[0:0]
    notes = [
        "Test: runs that share a seed share their initial weights, so when both objectives have an outcome for the "
        "same seeds the comparison is paired: the Wilcoxon signed-rank statistic with its exact sign-flip "
        "distribution (all 2^n sign vectors; ties by mid-ranks). Otherwise unpaired: Mann-Whitney U with its exact "
        "permutation distribution (all C(n_A + n_B, n_A) splits; ties by mid-ranks). Both two-sided.",
        "Divergence is the worst outcome: a diverged run ranks below every finished run (in the metric's "
        "direction) in the tests and in the effect sizes, and counts in n; 'Δ mean A − B' is over finished runs "
        "(paired: seeds where both finished) only.",
        "Effect sizes lead: matched-pairs rank-biserial r (paired) or Cliff's δ (unpaired), in [−1, 1], > 0 when A "
        "is better; 'Δ mean A − B' in the metric's units with its 95% t-interval (paired: Student t over the "
        "per-seed differences; unpaired: Welch). 'favours' is the sign of the effect, not a significance claim.",
        family_note(shown),
        min_p_note(shown),
        f"Fewer than {MIN_N} outcomes in a group (pairs when paired): no test ('{NO_TEST}').",
        *code_notes(list(family.values())),
    ]
    return numeric, display, notes


TOY_CAPTION = ("Toy (2-D points) datasets at the last checkpoint: every registered metric with values (modes "
               "covered, high-quality samples, W1 to the real distribution, ...), mean ± std over the finished "
               "runs, the success rate, and per dataset the real-vs-real floor.")


def toy_table(scores: pd.DataFrame, runs: pd.DataFrame | None = None, floors: pd.DataFrame | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    toy = [ds for ds in sorted(scores["dataset"].unique()) if is_toy_dataset(ds, scores)]
    sub = scores[scores["dataset"].isin(toy)]
    metrics = [m for m in metric_columns(sub) if sub[m].notna().any()]
    final = final_step_rows(sub)
    final_fin = final[finished_mask(final)] if len(final) else final
    cells = _runs_per_cell(sub, runs) if len(sub) else pd.DataFrame(columns=["dataset", "objective"])
    numeric_rows, display_rows = [], []
    for ds in toy:
        for obj in objective_order(sub.loc[sub["dataset"] == ds, "objective"].unique()):
            f = final_fin[(final_fin["dataset"] == ds) & (final_fin["objective"] == obj)]
            fa = final[(final["dataset"] == ds) & (final["objective"] == obj)]
            c = cells[(cells["dataset"] == ds) & (cells["objective"] == obj)]
            c = c.iloc[0] if len(c) else pd.Series(dtype=object)
            n_runs = int(c["n_runs"]) if "n_runs" in c else fa["seed"].nunique()
            n_fin = int(c["n_finished"]) if "n_finished" in c else n_runs
            n_div = int(c["n_diverged"]) if "n_diverged" in c else 0
            r = {"dataset": ds, "objective": obj, "final_step": int(fa["step"].max()) if len(fa) else math.nan,
                 "n_runs": n_runs, "n_finished": n_fin, "n_diverged": n_div,
                 "success_rate": c.get("success_rate", math.nan), "success_low": c.get("success_low", math.nan),
                 "success_high": c.get("success_high", math.nan)}
            d = {"dataset": ds, "objective": obj}
            for m in metrics:
                mean, std, n = mean_std(f[m])
                fm, fs, fr = _floor(floors, ds, m)
                r.update({f"{m}_mean": mean, f"{m}_std": std, f"{m}_n": n, f"{m}_floor_mean": fm,
                          f"{m}_floor_std": fs})
                spec = metric_spec(m)
                d[f"{spec.label} {spec.arrow}"] = fmt_mean_std(mean, std, n)
            d["n"] = str(int(f[metrics[0]].notna().sum()) if metrics else 0)
            d["success (95% CI)"] = fmt_success(n_fin, n_fin + n_div, r["success_low"], r["success_high"])
            numeric_rows.append(r)
            display_rows.append(d)
        if floors is not None:
            d = {"dataset": ds, "objective": FLOOR_ROW}
            reps = []
            for m in metrics:
                fm, fs, fr = _floor(floors, ds, m)
                spec = metric_spec(m)
                d[f"{spec.label} {spec.arrow}"] = fmt_mean_std(fm, fs)
                if _finite(fr):
                    reps.append(int(fr))
            d["n"] = f"{max(reps)} draws" if reps else DASH
            d["success (95% CI)"] = DASH
            display_rows.append(d)
    numeric = pd.DataFrame(numeric_rows, columns=None if numeric_rows else ["dataset", "objective"])
    display = pd.DataFrame(display_rows, columns=None if display_rows else ["dataset", "objective"])
    notes = ["High-quality = fraction of samples within 3 std of some centre. Modes covered: a mode with at least "
             "one high-quality sample (VEEGAN Table 1, PacGAN's code; comparable at their 2,500 samples); the "
             "share rule (this benchmark's, stricter) needs 20% of the mode's uniform share. KL(modes || uniform) "
             "of the high-quality samples, in nats. W1 = exact Wasserstein-1 distance between generated and real "
             "points.", "n = finished runs with a final score. " + MEANS_NOTE]
    notes += floor_notes(floors, toy) if toy else []
    notes += code_notes(metrics) if toy else []
    notes += protocol_notes(scores, toy)
    if not toy:
        notes.append("No toy dataset in these results.")
    return numeric, display, notes


def make_tables(tables_dir: str | Path, out_dir: str | Path | None = None, *,
                primary: dict[str, str] | str | None = None) -> dict[str, list[Path]]:
    """Read `tables_dir`/scores.csv (and runs.csv and floors.csv when present); write the result tables into
    `out_dir`.

    Writes final_scores.{csv,md,tex,html}, final_scores_all_metrics.{csv,html}, pairwise.*, toy.*
    (gan.layout.Layout.tables). `primary`: the headline metric, one name or {dataset: name}; default: the
    best-ranked registered metric a dataset has (gan.metrics Output.rank: fid for images, w1 for toy data).
    floors.csv (dataset, metric, floor_mean, floor_std, floor_repeats, n_gen, n_real) adds a real-vs-real floor
    row per dataset. Returns {table name: [paths written]}.
    """
    tables_dir = Path(tables_dir)
    out_dir = Path(out_dir) if out_dir is not None else tables_dir
    scores = read_table(tables_dir / "scores.csv")
    runs = read_table(tables_dir / "runs.csv") if (tables_dir / "runs.csv").exists() else None
    floors = read_table(tables_dir / "floors.csv") if (tables_dir / "floors.csv").exists() else None
    return tables_from_frames(scores, runs, out_dir, primary=primary, floors=floors)


def tables_from_frames(scores: pd.DataFrame, runs: pd.DataFrame | None, out_dir: str | Path, *,
                       primary: dict[str, str] | str | None = None,
                       floors: pd.DataFrame | None = None) -> dict[str, list[Path]]:
    """make_tables on in-memory frames (`floors`: the floors.csv frame, or None when there is none)."""
    if floors is not None and (floors.empty or not {"dataset", "metric", "floor_mean"} <= set(floors.columns)):
        floors = None  # an empty floors.csv: no floor was computed
    out: dict[str, list[Path]] = {}
    numeric, display, long, notes = final_scores_table(scores, runs, primary, floors)
    out["final_scores"] = write_table(numeric, display, out_dir, "final_scores", FINAL_CAPTION, notes)
    out["final_scores"].append(write_csv(long, Path(out_dir) / f"{ALL_METRICS_TABLE}.csv"))
    out["final_scores"].append(write_html(long, Path(out_dir) / f"{ALL_METRICS_TABLE}.html", ALL_METRICS_CAPTION))
    numeric, display, notes = pairwise_table(scores, primary)
    out["pairwise"] = write_table(numeric, display, out_dir, "pairwise", PAIRWISE_CAPTION, notes)
    numeric, display, notes = toy_table(scores, runs, floors)
    out["toy"] = write_table(numeric, display, out_dir, "toy", TOY_CAPTION, notes)
    return out
