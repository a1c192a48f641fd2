"""Precision and recall (Kynkäänniemi et al. 2019, k = 3) and density and coverage (Naeem et al. 2020, k = 5) of
the generated samples against the real ones, in every feature space that gives per-sample features: Inception's
`pool` (the P/R paper used VGG16 features, so these are not its numbers), a classifier's `embedding`, the toy
`points` (and a plugin's embedding).

With R the real features, G the generated ones and r_k(x) the distance from x to its k-th nearest neighbour in its
own set (itself excluded):
- precision = share of G within r_3 of some real sample (a real-looking sample: quality);
- recall = share of R within r_3 of some generated sample (the real data the generator reaches: diversity);
- density = mean over G of (number of real samples whose r_5 ball holds it) / 5 (about 1 for real data, above 1
  when samples crowd where the real set is dense);
- coverage = share of R whose r_5 ball holds at least one generated sample (1 - 2^-5 = 0.97 expected for real
  data at equal N).
P/R compare with <= as Kynkäänniemi et al.'s code (and torch-fidelity's, whose precision and recall were swapped
before 0.4.0), D/C with < as Naeem et al.'s `prdc` package; with continuous features the two agree.

Keys per space as FD's: `precision_<space>`, `recall_<space>`, `density_<space>`, `coverage_<space>`
(`precision_inception`, `precision_classifier`, `precision_points`). The reference keeps the real features
(float32, shared with KID's) and their k-NN radii, computed once. Distances are Euclidean, in float64, in blocks of
at most `BLOCK_BYTES` (a 50k x 50k matrix would be 20 GB), on the GPU when the process already uses one (its
extractor runs there), else on the CPU; the blocked result equals the unblocked one.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from gan.metrics.registry import Output, register_metric

PR_K, DC_K = 3, 5  # the papers' neighbourhood sizes
FEATURES = ("pool", "embedding", "points")
BLOCK_BYTES = 256 * 2**20  # one block of float64 distances


def compute_device(device=None):
    """`device`, else the GPU when this process already uses one (the extractor's, claimed for the job), else the
    CPU: a job that asked for no GPU never lands on one."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda") if torch.cuda.is_available() and torch.cuda.is_initialized() else torch.device("cpu")


def distance_blocks(a: np.ndarray, b: np.ndarray, device=None, block_bytes: int = BLOCK_BYTES
                    ) -> Iterator[tuple[int, "torch.Tensor"]]:  # noqa: F821
    """(first row, Euclidean distances of a block of rows of `a` to every row of `b`, float64 on `device`), each
    block at most `block_bytes` of distances: ||x||^2 + ||y||^2 - 2 x.y in float64, the sets kept in their own
    dtype (float32 features) and cast block by block, so that neither is held in float64 whole."""
    import torch

    dev = compute_device(device)
    at, bt = (torch.as_tensor(np.asarray(x), device=dev) for x in (a, b))
    n_b = len(bt)
    rows = max(1, block_bytes // (8 * max(n_b, 1)))
    cols = max(1, block_bytes // (8 * max(at.shape[1], 1)))  # the float64 copy of a slice of b
    b_sq = torch.cat([(bt[j:j + cols].double() ** 2).sum(1) for j in range(0, n_b, cols)])
    for i in range(0, len(at), rows):
        block = at[i:i + rows].double()
        out = torch.empty((len(block), n_b), dtype=torch.float64, device=dev)
        a_sq = (block ** 2).sum(1, keepdim=True)
        for j in range(0, n_b, cols):
            out[:, j:j + cols] = (a_sq + b_sq[j:j + cols]).addmm_(block, bt[j:j + cols].double().T, alpha=-2.0)
        yield i, out.clamp_(min=0.0).sqrt_()


def knn_radii(feats: np.ndarray, ks: tuple[int, ...] = (PR_K, DC_K), device=None, block_bytes: int = BLOCK_BYTES
              ) -> dict[int, np.ndarray]:
    """{k: distance of every sample to its k-th nearest neighbour in `feats`, itself excluded} (float64)."""
    import torch

    n = len(feats)
    if n <= max(ks):
        raise ValueError(f"k-nearest-neighbour radii with k = {max(ks)} need more than {max(ks)} samples, got {n}")
    out = {k: np.empty(n) for k in ks}
    for i, dist in distance_blocks(feats, feats, device, block_bytes):
        nearest = torch.topk(dist, max(ks) + 1, dim=1, largest=False).values.cpu().numpy()  # itself first
        for k in ks:
            out[k][i:i + len(dist)] = nearest[:, k]
    return out


def prdc(real: np.ndarray, fake: np.ndarray, real_radii: dict[int, np.ndarray] | None = None, device=None,
         block_bytes: int = BLOCK_BYTES) -> dict[str, float]:
    """precision, recall (k = 3), density and coverage (k = 5) of `fake` against `real` (module docstring);
    `real_radii`: knn_radii(real) when already known (the reference's)."""
    import torch

    real_radii = real_radii if real_radii is not None else knn_radii(real, device=device, block_bytes=block_bytes)
    dev = compute_device(device)
    fake_r3 = torch.as_tensor(knn_radii(fake, (PR_K,), device, block_bytes)[PR_K], device=dev)
    r3, r5 = (torch.as_tensor(real_radii[k], dtype=torch.float64, device=dev) for k in (PR_K, DC_K))
    precise = torch.zeros(len(fake), dtype=torch.bool, device=dev)
    density = torch.zeros(len(fake), dtype=torch.float64, device=dev)
    reached = torch.zeros(len(real), dtype=torch.bool, device=dev)  # recall: in some generated sample's ball
    nearest = torch.full((len(real),), torch.inf, dtype=torch.float64, device=dev)  # coverage: nearest generated
    for i, dist in distance_blocks(fake, real, dev, block_bytes):  # rows: generated, columns: real
        rows = slice(i, i + len(dist))
        precise[rows] = (dist <= r3).any(1)
        density[rows] = (dist < r5).sum(1, dtype=torch.float64) / DC_K
        reached |= (dist <= fake_r3[rows, None]).any(0)
        nearest = torch.minimum(nearest, dist.min(0).values)
    return {"precision": float(precise.double().mean()), "recall": float(reached.double().mean()),
            "density": float(density.mean()), "coverage": float((nearest < r5).double().mean())}


def prdc_reference(feats: np.ndarray) -> dict[str, np.ndarray]:
    """The real features (float32, as KID keeps them: one array for both) and their k-NN radii."""
    real = np.asarray(feats, dtype=np.float32)
    radii = knn_radii(real)
    return {"feats": real, "knn_radius_3": radii[PR_K], "knn_radius_5": radii[DC_K]}


REFERENCE_ARRAYS = ("feats", "knn_radius_3", "knn_radius_5")  # what prdc_reference writes


_LABELS = {"precision": (f"precision (k={PR_K})", "fraction"), "recall": (f"recall (k={PR_K})", "fraction"),
           "density": (f"density (k={DC_K})", ""), "coverage": (f"coverage (k={DC_K})", "fraction")}


@register_metric("prdc", feature=FEATURES, per_space=True, reference=prdc_reference,
                 outputs={key: Output(label, True, unit, floor=True) for key, (label, unit) in _LABELS.items()},
                 names={"inception": {key: (f"{key}_inception",
                                            Output(f"{label} (Inception pool features; the paper: VGG16)", True, unit,
                                                   floor=True))
                                      for key, (label, unit) in _LABELS.items()}})
def prdc_metric(ctx) -> dict[str, float]:
    """P/R/D/C of the generated features against the reference's real features and radii."""
    from gan.atomic import rerun_remedy

    missing = [k for k in REFERENCE_ARRAYS if k not in ctx.reference.arrays]
    if missing:  # a reference computed before this metric existed
        raise ValueError(f"reference {ctx.reference.path} has no {', '.join(missing)} (precision, recall, density "
                         f"and coverage need them): {rerun_remedy('reference', ctx.reference.path)}")
    radii = {PR_K: ctx.reference["knn_radius_3"], DC_K: ctx.reference["knn_radius_5"]}
    return prdc(ctx.reference["feats"], ctx.features, radii)
