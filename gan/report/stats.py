"""Statistics over seeds: exact tests, effect sizes, intervals, success rates and pairwise objective comparisons.

Conventions (the tables state them in their notes):

- **Exact tests only.** Unpaired: Mann-Whitney U with its exact permutation distribution (scipy's
  `PermutationMethod`, every one of the C(n_a + n_b, n_a) splits enumerated, ties handled by mid-ranks). Paired
  (runs of two objectives that share a seed share their initial weights): the Wilcoxon signed-rank statistic with
  its exact sign-flip distribution (all 2^n sign vectors, ties by mid-ranks, zero differences dropped). Both are
  two-sided (twice the smaller one-sided p, at most 1). Beyond ``EXACT_MAX`` arrangements a Monte Carlo p with a
  fixed seed is used and the note says so.
- **No test below n = 3** (``MIN_N``) per group (pairs when paired): the result says "n < 3: no test".
- **Divergence is the worst outcome.** In every rank-based statistic (tests, Cliff's delta, rank-biserial) a
  diverged run ranks below every finished run, in the metric's direction; means and mean differences are over
  finished runs only, and the success rate (finished / ended runs) with its exact Clopper-Pearson interval is
  reported beside them.
- **Effect sizes are oriented**: > 0 means A is *better* than B (by the metric's direction).
- The smallest attainable two-sided p follows from n: 2 / C(n_a + n_b, n_a) unpaired, 2 / 2^m paired (m = the
  non-zero differences, the only ones the sign-flip distribution sees).
- A declared correction family: :func:`pairwise_comparisons` applies Holm within each family it is given (by
  default each dataset's comparisons on its primary metric) and leaves every other comparison descriptive (its
  raw p, no adjusted p); :func:`seeds_needed` says how many seeds a family member needs to be able to reach 0.05.
- The within-run critic-quality relation: :func:`within_run_spearman` gives each run's Spearman rho and an exact
  permutation test (checkpoint order shuffled within each run), not an interval of a mean of correlations.

Intervals: :func:`t_interval` is the Student-t interval of a mean (exact for normal data; a percentile bootstrap
over 5 seeds covers about 84% for a nominal 95%); :func:`band_over_seeds` gives it at every x of a curve.
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

MIN_N = 3  # fewest outcomes per group (pairs when paired) for any test
NO_TEST = f"n < {MIN_N}: no test"
EXACT_MAX = 250_000  # enumerate every split / sign vector up to this many; beyond, Monte Carlo
MC_RESAMPLES = 100_000
MC_SEED = 0
PAIRED_TEST = "paired signed-rank (exact sign-flip)"
UNPAIRED_TEST = "Mann-Whitney U (exact permutation)"


# --------------------------------------------------------------------------------------------------------------
# Basics
# --------------------------------------------------------------------------------------------------------------

def _array(x: Iterable[float]) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(list(x), dtype=object), errors="coerce"), dtype=float)


def _finite(x: Iterable[float]) -> np.ndarray:
    a = _array(x)
    return a[np.isfinite(a)]


def _not_nan(x: Iterable[float]) -> np.ndarray:
    """Values with NaN dropped; +-inf kept (a diverged run is -inf on the oriented scale)."""
    a = _array(x)
    return a[~np.isnan(a)]


def mean_std(x: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1; NaN for n < 2) and n of the finite values."""
    a = _finite(x)
    n = len(a)
    mean = float(a.mean()) if n else math.nan
    std = float(a.std(ddof=1)) if n >= 2 else math.nan
    return mean, std, n


def t_interval(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of the finite values: (low, high); NaN for n < 2."""
    a = _finite(values)
    if len(a) < 2:
        return math.nan, math.nan
    half = sps.t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
    return float(a.mean() - half), float(a.mean() + half)


MIN_BAND_N = 3  # fewest seeds for a band: at 2 a "95%" band of a discrete metric covers about half the time


def band_over_seeds(df: pd.DataFrame, x: str, y: str, group: str | Sequence[str] | None = None,
                    level: float = 0.95, min_n: int = MIN_BAND_N) -> pd.DataFrame:
    """Mean over seeds of `y` at each `x` (within each `group`), with the Student-t interval of that mean.

    One row per (group..., x) with the columns ``[*group, x, "mean", "low", "high", "n"]``: n = finite values at
    that x (one per seed); low/high are NaN where n < min_n (3: no band rather than one that covers far less than it
    says; the figures draw the seeds themselves there). Vectorised: one groupby.
    For a figure's 95% band over seeds: ``band_over_seeds(scores, "step", "fid", ["dataset", "objective"])``.
    """
    group = [] if group is None else ([group] if isinstance(group, str) else list(group))
    keys = [*group, x]
    d = df[keys].copy()
    d["_y"] = pd.to_numeric(df[y], errors="coerce").astype(float)
    d = d[np.isfinite(d["_y"])]
    g = d.groupby(keys, sort=True)["_y"].agg(["mean", "std", "count"]).reset_index()
    n = g["count"].to_numpy(dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        tq = np.where(n >= max(min_n, 2), sps.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)), np.nan)
        half = tq * g["std"].to_numpy(dtype=float) / np.sqrt(np.maximum(n, 1))
    mean = g["mean"].to_numpy(dtype=float)
    out = g[keys].copy()
    out["mean"], out["low"], out["high"], out["n"] = mean, mean - half, mean + half, n
    return out.reset_index(drop=True)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion k / n; NaN for n = 0."""
    if n <= 0:
        return math.nan, math.nan
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def success_rate(finished: int, total: int, level: float = 0.95) -> dict:
    """{finished, total, rate, low, high}: the share of runs that finished, with its Clopper-Pearson interval."""
    low, high = clopper_pearson(finished, total, level)
    return {"finished": int(finished), "total": int(total),
            "rate": finished / total if total else math.nan, "low": low, "high": high}


def min_p_unpaired(n_a: int, n_b: int) -> float:
    """Smallest two-sided p an exact two-sample rank test can give at n_a vs n_b: 2 / C(n_a + n_b, n_a)."""
    if n_a < 1 or n_b < 1:
        return math.nan
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def min_p_paired(n: int) -> float:
    """Smallest two-sided p an exact sign-flip test can give with n non-zero pair differences: 2 / 2^n (1 when
    every difference is zero; NaN with no pair)."""
    if n < 0:
        return math.nan
    return min(1.0, 2.0 / 2.0 ** n)


ALPHA = 0.05


def seeds_needed(family_size: int, alpha: float = ALPHA, paired: bool = True) -> int:
    """Fewest seeds with which one comparison of a Holm family of `family_size` tests can reach `alpha`.

    Holm's smallest adjusted p is family_size x the smallest raw p, so a paired exact test needs
    family_size * 2 / 2^n <= alpha (n non-zero pairs; every one must agree in sign to get there), and an unpaired
    one family_size * 2 / C(2n, n) <= alpha with n runs per group."""
    if family_size < 1:
        return 0
    n = 1
    while family_size * (min_p_paired(n) if paired else min_p_unpaired(n, n)) > alpha:
        n += 1
    return n


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


# --------------------------------------------------------------------------------------------------------------
# Outcomes: values oriented so that higher is better, a diverged run = -inf (worst), unknown = NaN
# --------------------------------------------------------------------------------------------------------------

def oriented_outcomes(values: Iterable[float], diverged: Iterable[bool] | None = None,
                      higher_is_better: bool = True) -> np.ndarray:
    """Metric values on a scale where higher is better; diverged runs -inf (below every finished run); a run that
    is neither diverged nor has a finite value (a missing score) NaN, i.e. left out."""
    v = _array(values)
    v = np.where(np.isfinite(v), v, np.nan)
    o = v if higher_is_better else -v
    if diverged is not None:
        div = np.asarray(list(diverged), dtype=bool)
        o = np.where(div, -np.inf, o)
    return o


def cliffs_delta(a: Iterable[float], b: Iterable[float]) -> float:
    """Cliff's delta P(A > B) - P(A < B) in [-1, 1] (= the rank-biserial correlation of Mann-Whitney U).

    NaN is dropped, +-inf is kept (so on oriented outcomes a diverged run loses to every finished one)."""
    a, b = _not_nan(a), _not_nan(b)
    if not len(a) or not len(b):
        return math.nan
    gt = (a[:, None] > b[None, :]).sum()
    lt = (a[:, None] < b[None, :]).sum()
    return float((gt - lt) / (len(a) * len(b)))


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
    """Two-sided Mann-Whitney U test with its exact permutation distribution (ties by mid-ranks).

    Returns {u, p, p_min, n_a, n_b, method, note}; U counts pairs with A > B (+ half the ties). NaN is dropped,
    -inf / +inf are kept as the lowest / highest values. No test (p NaN, note "n < 3: no test") below MIN_N."""
    a, b = _not_nan(a), _not_nan(b)
    na, nb = len(a), len(b)
    out = {"u": math.nan, "p": math.nan, "p_min": min_p_unpaired(na, nb), "n_a": na, "n_b": nb,
           "method": "", "note": ""}
    if na < MIN_N or nb < MIN_N:
        out["note"] = NO_TEST
        return out
    pooled = np.concatenate([a, b])
    if np.all(pooled == pooled[0]):
        out.update(u=na * nb / 2, p=1.0, method="exact", note="all values equal")
        return out
    # U depends on the ranks only: put infinities just outside the finite range so the arithmetic stays finite
    fin = pooled[np.isfinite(pooled)]
    lo, hi = (fin.min() - 1, fin.max() + 1) if len(fin) else (-1.0, 1.0)
    a, b = (np.where(x == -np.inf, lo, np.where(x == np.inf, hi, x)) for x in (a, b))
    splits = math.comb(na + nb, na)
    exact = splits <= EXACT_MAX
    method = sps.PermutationMethod(n_resamples=splits if exact else MC_RESAMPLES,
                                   rng=np.random.default_rng(MC_SEED))
    res = sps.mannwhitneyu(a, b, alternative="two-sided", method=method)
    out.update(u=float(res.statistic), p=float(min(1.0, res.pvalue)),
               method="exact" if exact else f"Monte Carlo ({MC_RESAMPLES} permutations, seed {MC_SEED})")
    return out


def _signed_rank(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signs and mid-ranks of |d| of the non-zero differences (d may hold +-inf: they rank highest)."""
    d = d[d != 0]
    return np.sign(d), sps.rankdata(np.abs(d))


def paired_differences(a: Iterable[float], b: Iterable[float]) -> np.ndarray:
    """A - B per pair, dropping pairs with a NaN; -inf vs -inf (both diverged) is a tie (0)."""
    a, b = _array(a), _array(b)
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    with np.errstate(invalid="ignore"):
        d = a - b
    return np.where(a == b, 0.0, d)  # inf - inf


def signed_rank_exact(a: Iterable[float], b: Iterable[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired A vs B with its exact sign-flip distribution.

    Statistic T = sum over non-zero differences of sign(d) * midrank(|d|); under H0 (A and B exchangeable within a
    pair) every sign vector is equally likely, and all 2^m are enumerated (m = non-zero differences). p = P(|T*| >=
    |T|). Returns {t, p, p_min, n_pairs, n_nonzero, r_rb, method, note}; r_rb = T / sum of ranks is the matched-pairs
    rank-biserial correlation (> 0 when A tends to be larger). Pairs with a NaN are dropped; infinities are kept
    (a diverged run, -inf on the oriented scale, loses to its finished partner by more than any finite gap)."""
    d = paired_differences(a, b)
    n = len(d)
    # zero differences drop out of the sign-flip distribution, so the smallest reachable p follows from the rest
    out = {"t": math.nan, "p": math.nan, "p_min": min_p_paired(int((d != 0).sum())), "n_pairs": n,
           "n_nonzero": int((d != 0).sum()),
           "r_rb": math.nan, "method": "", "note": ""}
    if n < MIN_N:
        out["note"] = NO_TEST
        return out
    sign, rank = _signed_rank(d)
    m = len(sign)
    if m == 0:
        out.update(t=0.0, p=1.0, r_rb=0.0, method="exact", note="all differences zero")
        return out
    t_obs = float((sign * rank).sum())
    out.update(t=t_obs, r_rb=t_obs / float(rank.sum()))
    tol = 1e-9 * max(1.0, float(rank.sum()))
    if 2 ** m <= EXACT_MAX:
        flips = 1 - 2 * ((np.arange(2 ** m)[:, None] >> np.arange(m)[None, :]) & 1)  # every sign vector
        method = "exact"
        t_null = flips @ rank
        p = float(np.mean(np.abs(t_null) >= abs(t_obs) - tol))
    else:
        rng = np.random.default_rng(MC_SEED)
        flips = rng.choice([-1.0, 1.0], size=(MC_RESAMPLES, m))
        t_null = flips @ rank
        p = float((np.sum(np.abs(t_null) >= abs(t_obs) - tol) + 1) / (MC_RESAMPLES + 1))
        method = f"Monte Carlo ({MC_RESAMPLES} sign vectors, seed {MC_SEED})"
    out.update(p=min(1.0, p), method=method)
    return out


def mean_difference(a: Iterable[float], b: Iterable[float], paired: bool = False,
                    level: float = 0.95) -> dict:
    """Mean of A - B over finite values with its t-interval: paired (per-pair differences, Student t) or unpaired
    (difference of means, Welch-Satterthwaite). Returns {diff, low, high, n} (n = pairs, or 'n_a/n_b' counts)."""
    if paired:
        d = paired_differences(a, b)
        d = d[np.isfinite(d)]
        low, high = t_interval(d, level)
        return {"diff": float(d.mean()) if len(d) else math.nan, "low": low, "high": high, "n": len(d)}
    a, b = _finite(a), _finite(b)
    out = {"diff": float(a.mean() - b.mean()) if len(a) and len(b) else math.nan, "low": math.nan,
           "high": math.nan, "n": min(len(a), len(b))}
    if len(a) >= 2 and len(b) >= 2:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = math.sqrt(va + vb)
        if se == 0:
            out.update(low=out["diff"], high=out["diff"])
        else:
            df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
            half = sps.t.ppf(0.5 + level / 2, df) * se
            out.update(low=out["diff"] - half, high=out["diff"] + half)
    return out


def welch_t(a: Iterable[float], b: Iterable[float]) -> dict:
    """Welch's unequal-variance t-test (two-sided) on the finite values: {t, p, df, n_a, n_b, note}."""
    a, b = _finite(a), _finite(b)
    out = {"t": math.nan, "p": math.nan, "df": math.nan, "n_a": len(a), "n_b": len(b), "note": ""}
    if len(a) < MIN_N or len(b) < MIN_N:
        out["note"] = NO_TEST
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
    x, y = _array(x), _array(y)
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


PERMUTATION_EXACT_MAX_N = 8  # enumerate all n! checkpoint orders of a run up to n = 8 (40,320); beyond, Monte Carlo
WITHIN_RUN_TEST = "exact permutation of checkpoint order within each run"


def _rank_correlation_null(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Spearman rho of (x, y) under every ordering of y against x: (values, exact). All n! orderings up to
    PERMUTATION_EXACT_MAX_N (each equally likely under H0), else MC_RESAMPLES random ones."""
    rx, ry = sps.rankdata(x), sps.rankdata(y)
    n = len(rx)
    exact = n <= PERMUTATION_EXACT_MAX_N
    perms = (np.array(list(itertools.permutations(range(n)))) if exact else
             np.argsort(rng.random((MC_RESAMPLES, n)), axis=1))
    cx, cy = rx - rx.mean(), ry - ry.mean()
    return (cy[perms] @ cx) / math.sqrt((cx @ cx) * (cy @ cy)), exact


def _sum_distribution(nulls: list[np.ndarray], decimals: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """The exact distribution of a sum of independent discrete variables, each uniform over its listed values:
    (support, probabilities), by convolution (values rounded to `decimals` to merge equal sums)."""
    support, prob = np.zeros(1), np.ones(1)
    for values in nulls:
        v, counts = np.unique(np.round(values, decimals), return_counts=True)
        s = np.round(support[:, None] + v[None, :], decimals).ravel()
        w = (prob[:, None] * (counts / counts.sum())[None, :]).ravel()
        support, inverse = np.unique(s, return_inverse=True)
        prob = np.bincount(inverse, weights=w)
    return support, prob


def within_run_spearman(df: pd.DataFrame, x: str, y: str, run: str = "seed") -> dict:
    """The relation of x and y within each run (Spearman over its checkpoints), tested over runs exactly.

    Pooling the checkpoints of several runs mixes per-run offsets with the within-run relation and makes an
    independent-points p-value meaningless; the WGAN paper's claim (the critic's estimate falls as samples
    improve) is about one run's trajectory. The test: under H0 (no relation within a run) every order of a run's
    y values against its x values is equally likely, independently across runs; the statistic is the sum of the
    per-run rhos, and its null distribution is the convolution of every run's permutation distribution (exact: all
    n! orders of each run up to n = 8 checkpoints; Monte Carlo beyond, said in `method`). Two-sided:
    p = P(|S*| >= |S|). Runs with fewer than 3 checkpoints or constant values have no rho and are left out.

    Returns {"per_run": [{run, rho, n, note}], "mean_rho", "n_runs" (runs with a rho), "n_positive",
    "n_negative", "p", "p_min" (the smallest p these runs allow), "method", "note"}.
    """
    per_run, nulls, exact_all = [], [], True
    rng = np.random.default_rng(MC_SEED)
    for key, g in df.groupby(run, sort=True):
        res = spearman(g[x], g[y])
        per_run.append({run: key, "rho": res["rho"], "n": res["n"], "note": res["note"]})
        if np.isfinite(res["rho"]):
            xv, yv = _array(g[x]), _array(g[y])
            ok = np.isfinite(xv) & np.isfinite(yv)
            null, exact = _rank_correlation_null(xv[ok], yv[ok], rng)
            nulls.append(null)
            exact_all &= exact
    rhos = np.array([r["rho"] for r in per_run], dtype=float)
    rhos = rhos[np.isfinite(rhos)]
    out = {"per_run": per_run, "mean_rho": float(rhos.mean()) if len(rhos) else math.nan, "n_runs": int(len(rhos)),
           "n_positive": int((rhos > 0).sum()), "n_negative": int((rhos < 0).sum()), "p": math.nan,
           "p_min": math.nan, "method": "", "note": ""}
    if not len(rhos):
        out["note"] = "no run with 3 or more scored checkpoints and varying values"
        return out
    support, prob = _sum_distribution(nulls)
    tol = 1e-9 * len(nulls)
    observed = abs(float(rhos.sum()))
    out.update(p=float(min(1.0, prob[np.abs(support) >= observed - tol].sum())),
               p_min=float(min(1.0, prob[np.abs(support) >= np.abs(support).max() - tol].sum())),
               method=WITHIN_RUN_TEST + ("" if exact_all else
                                          f" (Monte Carlo: {MC_RESAMPLES} orders per run, seed {MC_SEED})"))
    return out


# --------------------------------------------------------------------------------------------------------------
# Comparing two objectives
# --------------------------------------------------------------------------------------------------------------

def compare_two(a: Iterable[float], b: Iterable[float], *, higher_is_better: bool = True,
                a_diverged: Iterable[bool] | None = None, b_diverged: Iterable[bool] | None = None,
                paired: bool = False) -> dict:
    """Group A vs group B on one metric: the rank effect size first, then the exact test.

    `a`, `b`: raw metric values (NaN for a diverged run or a missing score), aligned per seed when `paired`;
    `a_diverged` / `b_diverged`: which runs diverged (they rank worst; a NaN that did not diverge is left out).
    Paired: exact signed-rank sign-flip test, effect = matched-pairs rank-biserial r_rb. Unpaired: exact
    Mann-Whitney, effect = Cliff's delta. Both effects are oriented (> 0: A better) and include divergence.
    `diff` (A - B, metric units, with its t-interval) and the means are over finished runs only.
    """
    a_raw, b_raw = _array(a), _array(b)
    oa = oriented_outcomes(a_raw, a_diverged, higher_is_better)
    ob = oriented_outcomes(b_raw, b_diverged, higher_is_better)
    fin_a, fin_b = np.where(np.isfinite(oa), a_raw, np.nan), np.where(np.isfinite(ob), b_raw, np.nan)
    out = {"test": PAIRED_TEST if paired else UNPAIRED_TEST,
           "n_a": int((~np.isnan(oa)).sum()), "n_b": int((~np.isnan(ob)).sum()), "n_pairs": math.nan,
           "diverged_a": int(np.isneginf(oa).sum()), "diverged_b": int(np.isneginf(ob).sum()),
           "mean_a": mean_std(fin_a)[0], "mean_b": mean_std(fin_b)[0],
           "cliffs_delta": cliffs_delta(oa, ob)}
    if paired:
        res = signed_rank_exact(oa, ob)
        out.update(n_pairs=res["n_pairs"], effect_name="r_rb", effect=res["r_rb"], statistic=res["t"])
        if res["n_pairs"] < MIN_N:
            out["effect"] = math.nan
    else:
        res = mann_whitney(oa, ob)
        out.update(effect_name="cliffs_delta", statistic=res["u"],
                   effect=out["cliffs_delta"] if res["n_a"] >= MIN_N and res["n_b"] >= MIN_N else math.nan)
    md = mean_difference(fin_a, fin_b, paired=paired)
    out.update(diff=md["diff"], diff_low=md["low"], diff_high=md["high"], diff_n=md["n"],
               p=res["p"], p_min=res["p_min"], method=res["method"], note=res["note"])
    return out


def _outcome_frame(values: pd.DataFrame, metric: str, group: str) -> pd.DataFrame:
    """group, seed, value, diverged (bool) per run. Kept: diverged runs (worst outcome) and finished runs with a
    finite value (every run with a finite value when there is no `run_status`); the rest (a missing score, a run
    still in progress) is left out, as it is from the means."""
    v = pd.to_numeric(values[metric], errors="coerce").astype(float)
    if "run_status" in values:
        div, fin = values["run_status"] == "diverged", values["run_status"] == "finished"
    else:
        div, fin = pd.Series(False, index=values.index), pd.Series(True, index=values.index)
    seed = values["seed"] if "seed" in values else pd.Series(np.arange(len(values)), index=values.index)
    f = pd.DataFrame({group: values[group], "seed": seed, "value": v, "diverged": div.astype(bool)})
    return f[f["diverged"] | (fin.astype(bool) & np.isfinite(f["value"]))]


PAIRWISE_COLUMNS = ["metric", "a", "b", "test", "n_a", "n_b", "n_pairs", "diverged_a", "diverged_b",
                    "effect_name", "effect", "cliffs_delta", "mean_a", "mean_b", "diff", "diff_low", "diff_high",
                    "diff_n", "statistic", "p", "family", "family_size", "p_holm", "p_min", "method", "better",
                    "note"]
DESCRIPTIVE = "descriptive"


def pairwise_comparisons(values: pd.DataFrame, metrics: str | Sequence[str], group: str = "objective",
                         by: Sequence[str] = ("dataset",), family: dict | None = None) -> pd.DataFrame:
    """Every pair of `group` values (canonical order) within each `by` cell, on each of `metrics`, with a Holm
    correction within each declared family.

    `family`: {by-cell key (the value, or a tuple for several `by` keys): metric}: in each cell the comparisons on
    that metric form one family (column `family`, its size `family_size`, Holm-adjusted `p_holm`); every other
    comparison is descriptive (`family` "descriptive", `p_holm` NaN). None: every test returned is one family.

    `values`: one row per run (e.g. the final-step scores) with `seed` and `run_status`. Each comparison is paired
    (exact signed-rank) when both groups have an outcome for exactly the same seeds, else unpaired (exact
    Mann-Whitney). A diverged run is the worst outcome; a run with neither a value nor divergence is left out.
    Columns: the `by` keys, then PAIRWISE_COLUMNS: effect (r_rb paired / Cliff's delta unpaired, > 0: A better),
    Cliff's delta always, means of finished runs and their difference A - B with its 95% t-interval, p, p_holm,
    p_min (smallest attainable p at these n), `better` (the side the effect favours, or "tie") and `note`.
    A metric without a direction is skipped.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    by = list(by)
    rows = []
    groups = list(values.groupby(by, sort=True)) if by else [((), values)]
    for key, sub in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric not in sub:
                continue
            spec = metric_spec(metric)
            if spec.higher_is_better is None:
                continue
            oc = _outcome_frame(sub, metric, group)
            if not np.isfinite(oc["value"]).any():
                continue  # the metric does not exist for this cell
            present = objective_order(oc[group].dropna().unique())
            for a, b in itertools.combinations(present, 2):
                ga = oc[oc[group] == a].drop_duplicates("seed", keep="last").set_index("seed")
                gb = oc[oc[group] == b].drop_duplicates("seed", keep="last").set_index("seed")
                paired = set(ga.index) == set(gb.index)
                if paired:
                    seeds = sorted(ga.index)
                    ga, gb = ga.loc[seeds], gb.loc[seeds]
                res = compare_two(ga["value"], gb["value"], higher_is_better=spec.higher_is_better,
                                  a_diverged=ga["diverged"], b_diverged=gb["diverged"], paired=paired)
                # no side is favoured where no test is made (n < 3): a sign from 2 runs is no claim
                e = res["effect"]
                better = "" if not _isfinite(e) else (a if e > 0 else b if e < 0 else "tie")
                if not paired and res["note"] == "":
                    res["note"] = "seeds differ: unpaired"
                elif not paired:
                    res["note"] += "; seeds differ: unpaired"
                cell = key if len(key) > 1 else key[0]
                fam = ("all" if family is None else
                       f"{'/'.join(map(str, key))}: {metric}" if family.get(cell) == metric else DESCRIPTIVE)
                rows.append({**dict(zip(by, key)), "metric": metric, "a": a, "b": b, **res, "better": better,
                             "family": fam})
    df = pd.DataFrame(rows, columns=[*by, *PAIRWISE_COLUMNS])
    df["p_holm"] = np.nan
    for fam, members in df.groupby("family", sort=False).groups.items():
        if fam != DESCRIPTIVE:
            df.loc[members, "p_holm"] = holm(df.loc[members, "p"].to_numpy(dtype=float))
            df.loc[members, "family_size"] = int(df.loc[members, "p"].notna().sum())
    return df


def _isfinite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def simulate_paired_family(draw, n_seeds: int, reps: int, alpha: float = ALPHA, seed: int = 0) -> dict:
    """Monte Carlo check of the design: `draw(rng, n_seeds)` returns an (n_seeds, k) array of oriented outcomes
    (higher is better; -inf a diverged run) of k objectives sharing seeds; every pair is tested with the exact
    paired test and Holm runs over the k(k-1)/2 pairs, as the tables do for a dataset's primary metric.

    Returns {"pairs": [(i, j)], "reject": per-pair rejection rate at `alpha` after Holm, "familywise": the rate of
    rejecting any pair, "reps"}."""
    rng = np.random.default_rng(seed)
    reject, any_reject, pairs = None, 0, None
    for _ in range(reps):
        x = draw(rng, n_seeds)
        pairs = list(itertools.combinations(range(x.shape[1]), 2))
        p = [signed_rank_exact(x[:, i], x[:, j])["p"] for i, j in pairs]
        rejected = holm(p) <= alpha
        reject = rejected.astype(int) if reject is None else reject + rejected
        any_reject += bool(rejected.any())
    return {"pairs": pairs, "reject": (reject / reps).tolist(), "familywise": any_reject / reps, "reps": reps}
