"""Real-vs-real floors: what a perfect generator scores under the same protocol as the generated samples.

Real samples, never seen by the reference, are scored against the same references, at the same N, with the same
extractors and metric options, `repeats` times (fresh draws each time): the mean is the metric's floor and the
spread its sampling noise. A converged model can only be told apart from a perfect one by comparing with this.

- Toy data: fresh draws from the distribution (seeds eval_seed + 1 + r; the reference used eval_seed).
- Images: draws from the real images neither the reference nor any extractor used: the other split and the rest
  of the reference's split, less the images an extractor was trained on (the classifier records the train-split
  images it held out; the rest of that split it has seen, and seen images score closer to the reference: FD 40.5
  against 49.9 for unseen digits). When the pool holds `repeats` x N images the repeats are disjoint; otherwise
  each repeat draws N without replacement independently, repeats share N / pool of their images on average, and
  the file says so (`repeat_overlap`): the std then understates the spread of independent draws. When fewer than
  N such images exist, every repeat uses all of them and the file says so (`n_gen` is then smaller than the
  generated samples' N, and the floor is only indicative).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gan import atomic
from gan.metrics.reference import load_reference, reference_subset
from gan.metrics.scoring import build_scorers, score_checkpoint

FLOOR_OBJECTIVE = "real data"


def seen_by_extractors(weights: dict[str, str | Path] | None) -> dict[str, np.ndarray | None]:
    """{split: indices an extractor was trained on} from the weights' records: the classifier saw its train split
    less the indices it held out (None for a split nobody trained on). Downloaded weights (Inception) saw none of
    this data."""
    seen: dict[str, np.ndarray | None] = {}
    for name, path in (weights or {}).items():
        record_path = Path(path).with_suffix(".json")
        if name != "classifier" or not record_path.exists():
            continue
        record = atomic.read_json(record_path)
        if "heldout_train_indices" not in record:
            raise atomic.unreadable(record_path, "it records no held-out images (weights from before floors were "
                                    "drawn from unseen images)", atomic.rerun_remedy("train_classifier", path))
        n_train = int(record["n_train"]) + len(record["heldout_train_indices"])
        seen["train"] = np.setdiff1d(np.arange(n_train), np.asarray(record["heldout_train_indices"], dtype=int))
    return seen


def real_pool(dataset: str, options: dict, prepared: str | Path | None, reference_meta: dict,
              data_root: str | Path = "resources/data",
              seen: dict[str, np.ndarray | None] | None = None) -> np.ndarray:
    """uint8 real images neither the reference nor an extractor used: the other split and the rest of the
    reference's split, less `seen` ({split: indices an extractor trained on})."""
    from gan.datasets import get_dataset

    seen = seen or {}
    split = reference_meta["split"]
    pool = []
    for name in (split, "test" if split == "train" else "train"):
        images = get_dataset(dataset, data_root, name, prepared=prepared, **options).images_uint8().numpy()
        keep = np.arange(len(images))
        if name == split:
            keep = np.setdiff1d(keep, reference_subset(len(images), int(reference_meta["n_real"]),
                                                       int(reference_meta["seed"])))
        if seen.get(name) is not None:
            keep = np.setdiff1d(keep, seen[name])
        pool.append(images[keep])
    return np.concatenate([p for p in pool if len(p)])


def compute_floor(dataset_entry: str, dataset: str, options: dict, references: dict[str, str], n_gen: int,
                  repeats: int, eval_seed: int, out_json: str | Path, *, prepared: str | Path | None = None,
                  weights: dict[str, str] | None = None, data_root: str | Path = "resources/data",
                  **extractor_kwargs: Any) -> dict:
    """Score `repeats` draws of `n_gen` real samples against `references`; write the floor JSON atomically.

    `extractor_kwargs`: device, batch_size, num_workers (each reference and extractor is loaded once)."""
    import torch

    from gan.datasets import get_dataset
    from gan.sampling import save_samples

    start = time.time()
    first = load_reference(next(iter(references.values()))).meta
    kind = first["kind"]
    pool = None if kind == "points" else real_pool(dataset, options, prepared, first, data_root,
                                                      seen_by_extractors(weights))
    n = n_gen if pool is None else min(n_gen, len(pool))
    # disjoint repeats where the pool allows; otherwise independent draws that share n / len(pool) on average
    disjoint = pool is not None and len(pool) >= repeats * n
    order = np.random.default_rng(eval_seed + 1).permutation(len(pool)) if disjoint else None
    toy = get_dataset(dataset, data_root, "train", prepared=prepared, **options) if pool is None else None
    scorers = build_scorers(references, weights, **extractor_kwargs)
    per_repeat = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            seed = eval_seed + 1 + r
            if toy is not None:
                data = toy.sample(n, torch.Generator().manual_seed(seed)).numpy()
            elif disjoint:
                data = pool[np.sort(order[r * n:(r + 1) * n])]
            else:
                data = pool[np.sort(np.random.default_rng(seed).choice(len(pool), size=n, replace=False))]
            path = Path(tmp) / f"real{r}.npz"
            save_samples(path, kind, data, step=0, seed=seed)
            result = score_checkpoint(path, scorers, None, seed=eval_seed, dataset=dataset_entry,
                                      objective=FLOOR_OBJECTIVE, run_seed=r, step=0)
            per_repeat.append(result["metrics"])
    keys = sorted({k for m in per_repeat for k in m})
    metrics = {}
    for key in keys:
        values = np.array([m[key] for m in per_repeat if key in m], dtype=float)
        metrics[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else None,
                        "values": values.tolist()}
    out = {"dataset": dataset_entry, "kind": kind, "n_gen": int(n), "n_gen_requested": int(n_gen),
           "repeats": int(repeats), "eval_seed": int(eval_seed), "metrics": metrics,
           "references": {k: str(v) for k, v in references.items()}, "time_s": round(time.time() - start, 3),
           "pool": None if pool is None else int(len(pool)),
           "repeat_overlap": None if pool is None or disjoint else round(n / len(pool), 4),
           "note": "; ".join(text for text in (
               "" if n == n_gen else f"only {n} unseen real images: the floor is at N={n}, not {n_gen}",
               "" if pool is None or disjoint else
               f"repeats drawn independently from {len(pool)} unseen images share {n / len(pool):.0%} of their "
               "images on average: the std understates the spread of independent draws") if text)}
    atomic.write_json(out_json, out)
    return out
