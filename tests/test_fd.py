"""The exact Fréchet distance without sqrtm equals clean-fid's `frechet_distance` (the library routine it replaces
for speed), on well-conditioned, singular (N < d) and near-identical statistics; it is never negative."""
from __future__ import annotations

import time

import numpy as np
import pytest
from cleanfid.fid import frechet_distance as cleanfid_fd

from gan.metrics.distances import frechet_distance, sqrt_psd
from gan.metrics.feature_distances import fd_reference


def _stats(rng, n, d, shift=0.0, scale=1.0):
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    feats = (rng.normal(size=(n, d)) @ mix) * scale + shift
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


@pytest.mark.parametrize("n1, n2, d, shift", [
    (2000, 2000, 64, 0.3),   # well conditioned
    (30, 40, 64, 0.1),       # N < d: both covariances singular
    (3000, 3000, 128, 0.0),  # two samples of one distribution: a small distance made of large cancelling terms
])
def test_equals_cleanfid(n1, n2, d, shift):
    rng = np.random.default_rng(0)
    mu1, s1 = _stats(rng, n1, d, shift)
    mu2, s2 = _stats(rng, n2, d)
    ours, theirs = frechet_distance(mu1, s1, mu2, s2), cleanfid_fd(mu1, s1, mu2, s2)
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2, sqrt_psd(s2)) == ours  # the cached square root changes nothing


def test_near_identical_statistics_and_never_negative():
    rng = np.random.default_rng(1)
    mu, s = _stats(rng, 500, 32)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu, s, mu, s) >= 0.0
    s_near = s + 1e-6 * np.eye(32)
    ours, theirs = frechet_distance(mu + 1e-4, s_near, mu, s), cleanfid_fd(mu + 1e-4, s_near, mu, s)
    assert ours >= 0 and ours == pytest.approx(theirs, rel=1e-6, abs=1e-8)


def test_reference_files_carry_the_square_root():
    feats = np.random.default_rng(2).normal(size=(200, 16))
    stats = fd_reference(feats)
    assert np.allclose(stats["sigma_sqrt"] @ stats["sigma_sqrt"], stats["sigma"], atol=1e-10)


@pytest.mark.slow
def test_2048_d_at_10k_is_exact_and_faster_than_sqrtm():
    """The FID protocol's size: 2048-d statistics of 10k samples."""
    rng = np.random.default_rng(3)
    mu1, s1 = _stats(rng, 10_000, 2048, 0.05)
    mu2, s2 = _stats(rng, 10_000, 2048)
    root = sqrt_psd(s2)  # once per reference, stored in its file
    t0 = time.perf_counter()
    ours = frechet_distance(mu1, s1, mu2, s2, root)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = cleanfid_fd(mu1, s1, mu2, s2)
    t_theirs = time.perf_counter() - t0
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert t_ours < t_theirs
