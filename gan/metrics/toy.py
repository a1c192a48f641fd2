"""Exact metrics of toy 2-D samples: W1 by exact optimal transport, modes covered and high-quality fraction.

- w1: Wasserstein-1 distance between the generated points and the reference's real points, exact on up to
  `w1_max_points` (default 3000) points of each (a seeded subsample without replacement when there are more):
  POT's network simplex `ot.emd2` with uniform weights and the Euclidean cost `ot.dist(..., metric="euclidean")`.
- modes_covered (mixtures of gaussians only), as the literature counts it (VEEGAN, Srivastava et al. 2017, Table 1;
  PacGAN's released code, MetricLogger): a sample is high quality when its distance to the nearest centre is
  below 3 std; a mode is covered when at least one high-quality sample is assigned to it. Comparable with their
  numbers when scored on the same number of samples (they use 2,500).
- modes_covered_share: this benchmark's stricter rule (not the literature's): a mode is covered when at least
  `mode_min_share` (default 0.2) of its uniform share n_gen / num_modes of the samples are high quality and
  nearest to it; it does not count a mode reached by a handful of stray samples.
- high_quality: fraction of the samples within 3 std of some centre. A perfect sampler of an isotropic 2-D
  Gaussian puts 1 - exp(-9/2) = 98.9% of its points within 3 std.
- mode_kl: KL(histogram of the high-quality samples over the modes || uniform), in nats (0 for a perfectly
  balanced sampler up to sampling noise; log K when every high-quality sample sits in one of K modes), as the
  stacked-MNIST experiments of Unrolled GAN / VEEGAN / PacGAN report it.
The centres and the std are the dataset's own (`gan.datasets.get_dataset(name).centers`, `.std`, after scaling).
"""
from __future__ import annotations

import numpy as np

from gan.metrics.distances import kl_to_uniform, wasserstein1
from gan.metrics.registry import Extractor, Feature, Output, register_extractor, register_metric


@register_extractor("points")
class PointsExtractor(Extractor):
    """Toy data: the 2-D points themselves (float64); a reference keeps the real points (metrics and figures)."""
    kind = "points"
    provides = {"points": Feature(2, "the 2-D points")}
    modes = ("exact",)
    reference_features = ("points",)
    default_n_real = 10_000

    def __init__(self, mode: str, weights_path, device: str, batch_size: int, num_workers: int):
        self.mode = mode

    def extract(self, points: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"expected points of shape (N, 2), got {points.shape}")
        return {"points": points} if "points" in wanted else {}

    def reference_arrays(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"points": features["points"].astype(np.float32)}

    def describe(self) -> dict:
        return {"device": "cpu"}


def _subsample(points: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    if len(points) <= n_max:
        return points
    return points[np.sort(rng.choice(len(points), size=n_max, replace=False))]


@register_metric("w1", feature="points", outputs={"w1": Output("W1 to real data", False, floor=True, rank=3)})
def w1(ctx) -> dict[str, float]:
    """Exact W1 to the real reference points on a seeded subsample of at most w1_max_points each."""
    n_max = ctx.option("w1_max_points", 3000)
    rng = np.random.default_rng(ctx.seed)
    gen = _subsample(ctx.features, n_max, rng)
    real = _subsample(ctx.reference["points"].astype(np.float64), n_max, rng)
    ctx.used_options["w1_points"] = [len(gen), len(real)]
    return {"w1": wasserstein1(gen, real)}


def mode_statistics(points: np.ndarray, centers: np.ndarray, std: float, min_share: float = 0.2,
                    radius_std: float = 3.0) -> dict[str, float]:
    """Mode metrics of `points` for a mixture with `centers` (K, 2) and isotropic `std` (module docstring)."""
    points = np.asarray(points, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    dist = np.linalg.norm(points[:, None, :] - centers[None, :, :], axis=2)  # (N, K)
    nearest = dist.argmin(1)
    close = dist[np.arange(len(points)), nearest] <= radius_std * std
    counts = np.bincount(nearest[close], minlength=len(centers))
    threshold = min_share * len(points) / len(centers)
    return {"modes_covered": int((counts >= 1).sum()), "modes_covered_share": int((counts >= threshold).sum()),
            "high_quality": float(close.mean()), "mode_kl": kl_to_uniform(counts)}


@register_metric("modes", feature="points", applies=lambda ctx: getattr(ctx.dataset, "centers", None) is not None,
                 outputs={"modes_covered": Output("modes covered (>=1 high-quality sample)", True, "count",
                                                  floor=True, rank=4),
                          "modes_covered_share": Output("modes covered (>=20% of uniform share)", True, "count",
                                                        floor=True),
                          "high_quality": Output("high-quality samples", True, "fraction", floor=True, rank=5),
                          "mode_kl": Output("KL(modes || uniform)", False, "nats", floor=True)})
def modes(ctx) -> dict[str, float]:
    """Mode metrics for the gaussian mixtures (8gaussians, 25gaussians, any registered mixture)."""
    ds = ctx.dataset
    return mode_statistics(ctx.features, ds.centers.numpy(), float(ds.std),
                           min_share=ctx.option("mode_min_share", 0.2))
