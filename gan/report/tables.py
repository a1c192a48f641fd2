"""Result tables from the aggregated CSVs: final scores, pairwise objective comparisons and the toy table.

Each table is written three ways into `out_dir` (atomically): ``<name>.csv`` (numbers, full precision, for
machines), ``<name>.md`` (Markdown via pandas/tabulate) and ``<name>.tex`` (LaTeX booktabs `table` via pandas
Styler), the last two with the same rows, a caption and footnotes recording the evaluation protocol.

Definitions used throughout (also stated in the captions):
- *final step*: the largest checkpoint step of a (dataset, objective) in scores.csv. A diverged run has a
  missing (NaN) final score: it is left out of mean/std/median and counted in the `diverged` column.
- *best over checkpoints*: the best point of the mean-over-seeds curve (value and step; seeds that have a
  score at that step). The CSV also holds the mean over seeds of each seed's own best checkpoint.
- std is the sample standard deviation over seeds (ddof = 1).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from gan.io import write_text
from gan.report.aggregate import (is_toy_dataset, metric_columns, metric_spec,
                                  objective_order, primary_metric, read_table, write_csv)
from gan.report.stats import mean_std, pairwise_comparisons

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
                "≤": r"$\leq$", "×": r"$\times$", "<": r"$<$", ">": r"$>$", "ρ": r"$\rho$", "δ": r"$\delta$"}


def tex_escape(text) -> str:
    s = "".join(_TEX_ESCAPE.get(c, c) for c in str(text))
    return "".join(_TEX_SYMBOLS.get(c, c) for c in s)


def to_markdown(df: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> str:
    parts = [f"**{title}**\n"] if title else []
    parts.append(df.to_markdown(index=False) if len(df) else "_(no rows)_")
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


def _n_text_cols(df: pd.DataFrame) -> int:
    n = 0
    for c in df.columns:
        if str(c).lower() in ("dataset", "objective", "metric", "a", "b", "a vs b", "better"):
            n += 1
        else:
            break
    return max(n, 1)


def write_table(numeric: pd.DataFrame, display: pd.DataFrame, out_dir: str | Path, name: str, caption: str,
                notes: Sequence[str] = ()) -> list[Path]:
    """`numeric` -> name.csv; `display` -> name.md and name.tex (with `caption` and `notes`)."""
    out_dir = Path(out_dir)
    paths = [write_csv(numeric, out_dir / f"{name}.csv")]
    md, tex = out_dir / f"{name}.md", out_dir / f"{name}.tex"
    write_text(md, to_markdown(display, caption, notes))
    write_text(tex, to_latex(display, caption, f"tab:{name}", notes))
    return paths + [md, tex]


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


def _runs_per_cell(scores: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """n_runs, n_diverged and seconds per 1k generator iterations per (dataset, objective)."""
    cols = ["dataset", "objective", "n_runs", "n_diverged", "s_per_1k_mean", "s_per_1k_std"]
    rows = []
    if runs is not None and len(runs) and "status" in runs:
        for (ds, obj), g in runs.groupby(["dataset", "objective"], sort=False):
            t = pd.to_numeric(g.get("s_per_1k_gen_iters", pd.Series(dtype=float)), errors="coerce")
            rows.append([ds, obj, len(g), int((g["status"] == "diverged").sum()),
                         t.mean() if t.notna().any() else math.nan,
                         t.std(ddof=1) if t.notna().sum() > 1 else math.nan])
    elif len(scores):
        for (ds, obj), g in scores.groupby(["dataset", "objective"], sort=False):
            div = g.loc[g["run_status"] == "diverged", "seed"].nunique() if "run_status" in g else 0
            rows.append([ds, obj, g["seed"].nunique(), int(div), math.nan, math.nan])
    return pd.DataFrame(rows, columns=cols)


def summarize_metric(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (dataset, objective): final-step statistics and best over checkpoints of `metric`."""
    spec = metric_spec(metric)
    final = final_step_rows(scores)
    rows = []
    for (ds, obj), sub in scores.groupby(["dataset", "objective"], sort=False):
        fin = final[(final["dataset"] == ds) & (final["objective"] == obj)][metric]
        mean, std, n = mean_std(fin)
        vals = pd.to_numeric(fin, errors="coerce").dropna()
        row = {"dataset": ds, "objective": obj, "metric": metric, "final_step": int(sub["step"].max()),
               "mean": mean, "std": std, "n": n, "median": float(vals.median()) if n else math.nan,
               "min": float(vals.min()) if n else math.nan, "max": float(vals.max()) if n else math.nan}
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


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    order = {o: i for i, o in enumerate(objective_order(df["objective"].unique()))}
    return (df.assign(_o=df["objective"].map(order)).sort_values(["dataset", "_o"], kind="stable")
              .drop(columns="_o").reset_index(drop=True))


# --------------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------------

FINAL_CAPTION = ("Final scores per dataset and objective at the last checkpoint: mean ± std over seeds (n = seeds "
                 "with a score; diverged runs have no score and are counted under 'diverged'). 'best' is the best "
                 "point of the mean-over-seeds curve over all checkpoints, with its generator iteration.")


def final_scores_table(scores: pd.DataFrame, runs: pd.DataFrame | None = None,
                       primary: dict[str, str] | str | None = None) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                              pd.DataFrame, list[str]]:
    """(numeric wide table, display table, long table of every metric, notes)."""
    metrics = metric_columns(scores)
    long = pd.concat([summarize_metric(scores, m) for m in metrics], ignore_index=True) if metrics else \
        pd.DataFrame(columns=["dataset", "objective", "metric"])
    cells = _runs_per_cell(scores, runs)
    numeric_rows, display_rows = [], []
    for ds in sorted(scores["dataset"].unique()):
        pm = primary_metric(scores, ds, primary)
        for obj in objective_order(scores.loc[scores["dataset"] == ds, "objective"].unique()):
            c = cells[(cells["dataset"] == ds) & (cells["objective"] == obj)]
            c = c.iloc[0] if len(c) else pd.Series(dtype=object)
            r = {"dataset": ds, "objective": obj, "metric": pm or ""}

            def get(metric, col):
                sel = long[(long["dataset"] == ds) & (long["objective"] == obj) & (long["metric"] == metric)]
                return sel.iloc[0][col] if len(sel) else math.nan

            for col in ("final_step", "mean", "std", "n", "median", "best_mean_curve", "best_mean_curve_step",
                        "best_mean_curve_n", "mean_of_seed_best", "std_of_seed_best"):
                r[col] = get(pm, col) if pm else math.nan
            kid = "kid" if _finite(get("kid", "mean")) or not _finite(get("kid_classifier", "mean")) \
                else "kid_classifier"
            r["kid_metric"] = kid
            r["kid_mean"], r["kid_std"], r["kid_n"] = get(kid, "mean"), get(kid, "std"), get(kid, "n")
            r["n_runs"] = c.get("n_runs", math.nan)
            r["n_diverged"] = c.get("n_diverged", math.nan)
            r["s_per_1k_gen_iters_mean"] = c.get("s_per_1k_mean", math.nan)
            r["s_per_1k_gen_iters_std"] = c.get("s_per_1k_std", math.nan)
            numeric_rows.append(r)
            spec = metric_spec(pm) if pm else None
            best = (f"{fmt_num(r['best_mean_curve'])} @ {int(r['best_mean_curve_step'])}"
                    if _finite(r["best_mean_curve"]) else DASH)
            display_rows.append({
                "dataset": ds, "objective": obj,
                "metric": f"{spec.label} {spec.arrow}".strip() if spec else DASH,
                "final (mean ± std)": fmt_mean_std(r["mean"], r["std"], r["n"]),
                "n": (f"{int(r['n']) if _finite(r['n']) else 0}/{int(r['n_runs'])}" if _finite(r["n_runs"])
                      else (str(int(r["n"])) if _finite(r["n"]) else "0")),
                "median": fmt_num(r["median"]),
                "best @ iter": best,
                "KID ↓": fmt_mean_std(r["kid_mean"], r["kid_std"]),
                "diverged": str(int(r["n_diverged"])) if _finite(r["n_diverged"]) else DASH,
                "s / 1k iters": fmt_mean_std(r["s_per_1k_gen_iters_mean"], r["s_per_1k_gen_iters_std"]),
            })
    numeric = pd.DataFrame(numeric_rows)
    display = pd.DataFrame(display_rows)
    notes = ["↓ lower is better, ↑ higher is better; mean ± std over seeds (sample std); n = seeds with a final "
             "score / runs; 's / 1k iters' = training wall-clock seconds per 1000 generator iterations."]
    kid_clf = sorted(numeric.loc[numeric["kid_metric"] == "kid_classifier", "dataset"].unique()) \
        if len(numeric) else []
    if kid_clf:
        notes.append("KID of " + ", ".join(kid_clf) + " is computed on classifier features (kid_classifier).")
    notes += protocol_notes(scores)
    if runs is not None and "device" in runs and runs["device"].notna().any():
        devs = sorted({str(d) for d in runs["device"].dropna() if str(d)})
        if devs:
            notes.append("device: " + "; ".join(devs))
    return numeric, display, _ordered(long) if len(long) else long, notes


PAIRWISE_CAPTION = ("Pairwise comparison of objectives on the final-step score over seeds: two-sided "
                    "Mann-Whitney U and Welch t-test (Holm-adjusted within each dataset in the CSV), Cliff's delta "
                    "(= rank-biserial correlation; > 0 when A is larger) and Cohen's d (A - B).")


def pairwise_table(scores: pd.DataFrame, primary: dict[str, str] | str | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(numeric table over every ranked metric, display table of each dataset's primary metric, notes)."""
    final = final_step_rows(scores)
    frames = []
    ranked = [m for m in metric_columns(scores) if metric_spec(m).higher_is_better is not None]
    for ds in sorted(scores["dataset"].unique()):
        sub = final[final["dataset"] == ds]
        for m in ranked:
            if sub[m].notna().any():
                frames.append(pairwise_comparisons(sub, m, by=("dataset",)))
    numeric = pd.concat(frames, ignore_index=True) if frames else \
        pairwise_comparisons(pd.DataFrame(columns=["dataset", "objective", "value"]), "value")
    display_rows = []
    for ds in sorted(scores["dataset"].unique()):
        pm = primary_metric(scores, ds, primary)
        sel = numeric[(numeric["dataset"] == ds) & (numeric["metric"] == pm)]
        for _, r in sel.iterrows():
            display_rows.append({
                "dataset": ds, "metric": metric_spec(pm).label, "A vs B": f"{r['a']} vs {r['b']}",
                "n (A/B)": f"{int(r['n_a'])}/{int(r['n_b'])}",
                "median A": fmt_num(r["median_a"]), "median B": fmt_num(r["median_b"]),
                "MWU p": fmt_p(r["mwu_p"]), "Welch p": fmt_p(r["welch_p"]),
                "Cliff's δ": fmt_num(r["cliffs_delta"], 2) if _finite(r["cliffs_delta"]) else DASH,
                "Cohen's d": (f"{r['cohens_d']:.2f}" if _finite(r["cohens_d"]) else
                              (str(r["cohens_d"]) if not pd.isna(r["cohens_d"]) else DASH)),
                "better": r["better"] or DASH, "note": r["note"] or "",
            })
    display = pd.DataFrame(display_rows)
    notes = ["Unadjusted p-values shown; Holm-adjusted ones are in the CSV. With 3 seeds the smallest possible "
             "two-sided Mann-Whitney p is 0.1: read effect sizes and the distributions, not only p.",
             "Tests need n ≥ 2 finite values per group; otherwise the entry is '–' and the note says why."]
    return numeric, display, notes


TOY_CAPTION = ("Toy (2-D points) datasets at the last checkpoint: every registered metric with values (modes "
               "covered, high-quality samples, W1 to the real distribution, ...), mean ± std over seeds.")


def toy_table(scores: pd.DataFrame, runs: pd.DataFrame | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    toy = [ds for ds in sorted(scores["dataset"].unique()) if is_toy_dataset(ds, scores)]
    sub = scores[scores["dataset"].isin(toy)]
    metrics = [m for m in metric_columns(sub) if sub[m].notna().any()]
    final = final_step_rows(sub)
    cells = _runs_per_cell(sub, runs) if len(sub) else pd.DataFrame(columns=["dataset", "objective"])
    numeric_rows, display_rows = [], []
    for ds in toy:
        for obj in objective_order(sub.loc[sub["dataset"] == ds, "objective"].unique()):
            f = final[(final["dataset"] == ds) & (final["objective"] == obj)]
            c = cells[(cells["dataset"] == ds) & (cells["objective"] == obj)]
            n_div = int(c["n_diverged"].iloc[0]) if len(c) else 0
            n_runs = int(c["n_runs"].iloc[0]) if len(c) else f["seed"].nunique()
            r = {"dataset": ds, "objective": obj, "final_step": int(f["step"].max()) if len(f) else math.nan,
                 "n_runs": n_runs, "n_diverged": n_div}
            d = {"dataset": ds, "objective": obj}
            for m in metrics:
                mean, std, n = mean_std(f[m])
                r.update({f"{m}_mean": mean, f"{m}_std": std, f"{m}_n": n})
                spec = metric_spec(m)
                d[f"{spec.label} {spec.arrow}"] = fmt_mean_std(mean, std, n)
            d["n"] = f"{int(f[metrics[0]].notna().sum()) if metrics else 0}/{n_runs}"
            d["diverged"] = str(n_div)
            numeric_rows.append(r)
            display_rows.append(d)
    numeric = pd.DataFrame(numeric_rows, columns=None if numeric_rows else ["dataset", "objective"])
    display = pd.DataFrame(display_rows, columns=None if display_rows else ["dataset", "objective"])
    notes = ["High-quality = fraction of samples within 3 std of some centre. Modes covered: a mode with at least "
             "one high-quality sample (VEEGAN Table 1, PacGAN's code; comparable at their 2,500 samples); the "
             "share rule (this benchmark's, stricter) needs 20% of the mode's uniform share. KL(modes || uniform) "
             "of the high-quality samples, in nats. W1 = exact Wasserstein-1 distance between generated and real "
             "points."]
    notes += protocol_notes(scores, toy)
    if not toy:
        notes.append("No toy dataset in these results.")
    return numeric, display, notes


def make_tables(tables_dir: str | Path, out_dir: str | Path | None = None, *,
                primary: dict[str, str] | str | None = None) -> dict[str, list[Path]]:
    """Read `tables_dir`/scores.csv (and runs.csv when present); write the result tables into `out_dir`.

    Writes final_scores.{csv,md,tex}, final_scores_all_metrics.csv, pairwise.{csv,md,tex}, toy.{csv,md,tex}.
    `primary`: the headline metric, one name or {dataset: name}; default: the first of PRIMARY_PRIORITY that a
    dataset has (fid for images, w1 for toy data). Returns {table name: [paths written]}.
    """
    tables_dir = Path(tables_dir)
    out_dir = Path(out_dir) if out_dir is not None else tables_dir
    scores = read_table(tables_dir / "scores.csv")
    runs = read_table(tables_dir / "runs.csv") if (tables_dir / "runs.csv").exists() else None
    return tables_from_frames(scores, runs, out_dir, primary=primary)


def tables_from_frames(scores: pd.DataFrame, runs: pd.DataFrame | None, out_dir: str | Path, *,
                       primary: dict[str, str] | str | None = None) -> dict[str, list[Path]]:
    """make_tables on in-memory frames."""
    out: dict[str, list[Path]] = {}
    numeric, display, long, notes = final_scores_table(scores, runs, primary)
    out["final_scores"] = write_table(numeric, display, out_dir, "final_scores", FINAL_CAPTION, notes)
    out["final_scores"].append(write_csv(long, Path(out_dir) / "final_scores_all_metrics.csv"))
    numeric, display, notes = pairwise_table(scores, primary)
    out["pairwise"] = write_table(numeric, display, out_dir, "pairwise", PAIRWISE_CAPTION, notes)
    numeric, display, notes = toy_table(scores, runs)
    out["toy"] = write_table(numeric, display, out_dir, "toy", TOY_CAPTION, notes)
    return out
