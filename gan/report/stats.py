"""Statistics over seeds: two-group tests, effect sizes, correlations and pairwise objective comparisons.

Every function drops NaN (diverged / missing runs) first, reports the n it actually used, and returns NaN with a
`note` instead of raising when a test is undefined (n < 2 in a group, zero variance, ...).
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from gan.report.aggregate import metric_spec, objective_order

MIN_N = 2  # fewest finite values per group for any test


def _finite(x: Iterable[float]) -> np.ndarray:
    a = np.asarray(pd.to_numeric(pd.Series(list(x), dtype=object), errors="coerce"), dtype=float)
    return a[np.isfinite(a)]


def mean_std(x: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1; NaN for n < 2) and n of the finite values."""
    a = _finite(x)
    n = len(a)
    mean = float(a.mean()) if n else math.nan
    std = float(a.std(ddof=1)) if n >= 2 else math.nan
    return mean, std, n


def t_ci(x: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean (NaN for n < 2)."""
    a = _finite(x)
    if len(a) < 2:
        return math.nan, math.nan
    half = sps.t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
    return float(a.mean() - half), float(a.mean() + half)


def cliffs_delta(a: Iterable[float], b: Iterable[float]) -> float:
    """Cliff's delta P(A > B) - P(A < B), in [-1, 1]; equals the rank-biserial correlation of Mann-Whitney U."""
    a, b = _finite(a), _finite(b)
    if not len(a) or not len(b):
        return math.nan
    diff = a[:, None] - b[None, :]
    return float((np.sign(diff)).mean())


def cohens_d(a: Iterable[float], b: Iterable[float]) -> float:
    """Cohen's d with the pooled standard deviation: (mean A - mean B) / s_pooled (NaN when undefined)."""
    a, b = _finite(a), _finite(b)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled <= 0:
        diff = a.mean() - b.mean()
        return math.nan if diff == 0 else math.copysign(math.inf, diff)
    return float((a.mean() - b.mean()) / math.sqrt(pooled))


def mann_whitney(a: Iterable[float], b: Iterable[float]) -> dict:
    """Two-sided Mann-Whitney U test (scipy): {u, p, n_a, n_b, note}; U counts pairs with A > B."""
    a, b = _finite(a), _finite(b)
    out = {"u": math.nan, "p": math.nan, "n_a": len(a), "n_b": len(b), "note": ""}
    if len(a) < MIN_N or len(b) < MIN_N:
        out["note"] = f"n < {MIN_N} in a group"
        return out
    if np.ptp(np.concatenate([a, b])) == 0:
        out.update(u=len(a) * len(b) / 2, p=1.0, note="all values equal")
        return out
    res = sps.mannwhitneyu(a, b, alternative="two-sided")
    out.update(u=float(res.statistic), p=float(res.pvalue))
    return out


def welch_t(a: Iterable[float], b: Iterable[float]) -> dict:
    """Welch's unequal-variance t-test (two-sided): {t, p, df, n_a, n_b, note}."""
    a, b = _finite(a), _finite(b)
    out = {"t": math.nan, "p": math.nan, "df": math.nan, "n_a": len(a), "n_b": len(b), "note": ""}
    if len(a) < MIN_N or len(b) < MIN_N:
        out["note"] = f"n < {MIN_N} in a group"
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        out["note"] = "zero variance in both groups"
        if a.mean() == b.mean():
            out["p"] = 1.0
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.ttest_ind(a, b, equal_var=False)
    out.update(t=float(res.statistic), p=float(res.pvalue),
               df=float((va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))))
    return out


def spearman(x: Iterable[float], y: Iterable[float]) -> dict:
    """Spearman rank correlation over the pairs where both are finite: {rho, p, n, note}."""
    x = np.asarray(pd.to_numeric(pd.Series(list(x), dtype=object), errors="coerce"), dtype=float)
    y = np.asarray(pd.to_numeric(pd.Series(list(y), dtype=object), errors="coerce"), dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    out = {"rho": math.nan, "p": math.nan, "n": int(ok.sum()), "note": ""}
    if len(x) < 3:
        out["note"] = "n < 3"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "constant input"
        return out
    res = sps.spearmanr(x, y)
    out.update(rho=float(res.statistic), p=float(res.pvalue))
    return out


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN entries stay NaN and do not count as tests)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.where(np.isfinite(p))[0]
    m = len(idx)
    if not m:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def compare_two(a: Iterable[float], b: Iterable[float]) -> dict:
    """Both tests and both effect sizes of group A vs group B."""
    mw, wt = mann_whitney(a, b), welch_t(a, b)
    fa, fb = _finite(a), _finite(b)
    notes = [n for n in dict.fromkeys([mw["note"], wt["note"]]) if n]
    return {
        "n_a": mw["n_a"], "n_b": mw["n_b"],
        "mean_a": float(fa.mean()) if len(fa) else math.nan, "mean_b": float(fb.mean()) if len(fb) else math.nan,
        "median_a": float(np.median(fa)) if len(fa) else math.nan,
        "median_b": float(np.median(fb)) if len(fb) else math.nan,
        "mwu_u": mw["u"], "mwu_p": mw["p"], "welch_t": wt["t"], "welch_df": wt["df"], "welch_p": wt["p"],
        "cliffs_delta": cliffs_delta(fa, fb) if len(fa) and len(fb) else math.nan,
        "cohens_d": cohens_d(fa, fb),
        "note": "; ".join(notes),
    }


def pairwise_comparisons(values: pd.DataFrame, metric: str, group: str = "objective",
                         by: Sequence[str] = ("dataset",)) -> pd.DataFrame:
    """Every pair of `group` values (objectives, canonical order) within each `by` cell, compared on `metric`.

    `values`: one row per seed (e.g. the final-step scores). Output columns: the `by` keys, metric, a, b, n_a,
    n_b, means/medians, Mann-Whitney U and p, Welch t/df/p, Cliff's delta (= rank-biserial correlation,
    positive when A tends to be larger), Cohen's d (A - B), Holm-adjusted p of both tests within each `by`
    cell, `better` (the group with the better median given the metric's direction) and `note`.
    """
    spec = metric_spec(metric)
    rows = []
    by = list(by)
    groups = values.groupby(by, sort=True) if by else [((), values)]
    for key, sub in groups:
        key = key if isinstance(key, tuple) else (key,)
        present = objective_order(sub[group].dropna().unique())
        cell_rows = []
        for a, b in itertools.combinations(present, 2):
            res = compare_two(sub.loc[sub[group] == a, metric], sub.loc[sub[group] == b, metric])
            better = ""
            if spec.higher_is_better is not None and res["n_a"] and res["n_b"]:
                if res["median_a"] != res["median_b"]:
                    better = a if spec.better(res["median_a"], res["median_b"]) else b
                else:
                    better = "tie"
            cell_rows.append({**dict(zip(by, key)), "metric": metric, "a": a, "b": b, **res, "better": better})
        if cell_rows:
            mw_holm = holm([r["mwu_p"] for r in cell_rows])
            wt_holm = holm([r["welch_p"] for r in cell_rows])
            for r, p1, p2 in zip(cell_rows, mw_holm, wt_holm):
                r["mwu_p_holm"], r["welch_p_holm"] = p1, p2
        rows.extend(cell_rows)
    cols = [*by, "metric", "a", "b", "n_a", "n_b", "mean_a", "mean_b", "median_a", "median_b", "mwu_u", "mwu_p",
            "mwu_p_holm", "welch_t", "welch_df", "welch_p", "welch_p_holm", "cliffs_delta", "cohens_d", "better",
            "note"]
    return pd.DataFrame(rows, columns=cols)
