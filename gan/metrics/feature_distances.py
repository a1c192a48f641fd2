"""The Fréchet distance and KID between the generated and the real samples' embeddings, written once for every
feature space that gives an embedding (Inception's `pool`, a classifier's `embedding`, a plugin's).

Keys are per space: `fd_<space>`, `kid_<space>` (`fd_classifier`, `kid_classifier`), except the names users know
for Inception, `fid` and `kid`. The reference keeps what they need of the real features, computed once: the mean,
the covariance and its symmetric square root (every FD to it skips the square root), and the features (KID).
"""
from __future__ import annotations

import numpy as np

from gan.metrics.distances import frechet_from_features, kid_seeded, sqrt_psd
from gan.metrics.registry import Output, register_metric

#: the features these metrics read: a space's embedding, whatever its extractor calls it
EMBEDDINGS = ("pool", "embedding")


def fd_reference(feats: np.ndarray) -> dict[str, np.ndarray]:
    """mean and covariance as clean-fid computes them (np.mean, np.cov(rowvar=False)), and the covariance's
    symmetric square root."""
    sigma = np.cov(feats, rowvar=False)
    return {"mu": np.mean(feats, axis=0), "sigma": sigma, "sigma_sqrt": sqrt_psd(sigma)}


@register_metric("fd", feature=EMBEDDINGS, per_space=True, reference=fd_reference,
                 outputs={"fd": Output("FD", False, floor=True, rank=1)},
                 names={"inception": {"fd": ("fid", Output("FID", False, floor=True, rank=0))}})
def fd(ctx) -> dict[str, float]:
    """Fréchet distance of the generated embeddings to the reference's mean and covariance (FID in Inception's)."""
    return {"fd": frechet_from_features(ctx.features, ctx.reference["mu"], ctx.reference["sigma"],
                                        ctx.reference.arrays.get("sigma_sqrt"))}


@register_metric("kid", feature=EMBEDDINGS, per_space=True,
                 reference=lambda feats: {"feats": feats.astype(np.float32)},
                 outputs={"kid": Output("KID", False, floor=True)},
                 names={"inception": {"kid": ("kid", Output("KID", False, floor=True, rank=2))}})
def kid(ctx) -> dict[str, float]:
    """KID (clean-fid's kernel_distance, 100 subsets of min(n_gen, n_real, 1000)), seeded with the score seed."""
    return {"kid": kid_seeded(ctx.reference["feats"], ctx.features, ctx.seed)}
