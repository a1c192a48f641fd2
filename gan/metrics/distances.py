"""Pure distances between samples (arrays in, a number out): the exact Fréchet distance, clean-fid's seeded KID,
exact W1 by optimal transport, KL of a histogram to uniform. No registry, no files, no networks."""
from __future__ import annotations

import numpy as np


def sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (float64 eigh; tiny negative eigenvalues,
    rounding noise of a singular covariance, are clipped to 0)."""
    w, v = np.linalg.eigh(np.asarray(sigma, dtype=np.float64))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     sqrt_sigma2: np.ndarray | None = None) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), exactly, without scipy's sqrtm.

    Tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of A S1 A) with A = S2^(1/2): S1 S2 is similar to A S1 A, which
    is symmetric positive semi-definite, so a symmetric eigen-solver applies and no imaginary part or negative
    eigenvalue arises (a general eigen-solver on S1 S2 gives both). A = `sqrt_sigma2` when the reference file
    has it. Equal to clean-fid's `frechet_distance` (tests/test_fd.py); never negative.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    a = sqrt_psd(s2) if sqrt_sigma2 is None else np.asarray(sqrt_sigma2, dtype=np.float64)
    m = a @ s1 @ a
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean), 0.0)


def frechet_from_features(feats: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray,
                          sqrt_sigma_ref: np.ndarray | None = None) -> float:
    """Fréchet distance of generated features to reference statistics (:func:`frechet_distance`)."""
    if len(feats) < 2:
        raise ValueError("a Fréchet distance needs at least 2 samples")
    return frechet_distance(np.mean(feats, axis=0), np.cov(feats, rowvar=False), mu_ref, sigma_ref, sqrt_sigma_ref)


def kid_seeded(ref_feats: np.ndarray, gen_feats: np.ndarray, seed: int, num_subsets: int = 100,
               max_subset_size: int = 1000) -> float:
    """clean-fid's `kernel_distance(ref, gen)` with its subsets drawn from numpy's global RNG seeded with `seed`.

    The global state is restored afterwards, so nothing else in the process sees a changed RNG.
    """
    from cleanfid.fid import kernel_distance

    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        return float(kernel_distance(ref_feats, gen_feats, num_subsets=num_subsets, max_subset_size=max_subset_size))
    finally:
        np.random.set_state(state)


def wasserstein1(x: np.ndarray, y: np.ndarray, num_iter_max: int = 10_000_000) -> float:
    """Exact W1 between two point clouds with uniform weights (POT network simplex, Euclidean ground cost)."""
    import ot

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    cost = ot.dist(x, y, metric="euclidean")
    value, log = ot.emd2(ot.unif(len(x)), ot.unif(len(y)), cost, numItermax=num_iter_max, log=True)
    if log.get("warning"):
        raise RuntimeError(f"exact OT did not converge ({log['warning']}); lower w1_max_points")
    return float(value)


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) of a histogram, in nats; NaN for an empty one (no sample to judge)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return float("nan")
    p = counts / counts.sum()
    nz = p > 0
    return float((p[nz] * np.log(p[nz] * len(p))).sum()) + 0.0
