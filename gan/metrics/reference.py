"""Reference statistics of real data: one npz per dataset, split, extractor, mode, n and evaluation seed.

A reference holds the arrays the metrics of its feature space declare (`register_metric(reference=...)`: the FD's
mean, covariance and its square root, KID's features) and the extractor's own (the toy points), computed once
from the real data's features, and its metadata (protocol, weights sha256, versions).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan import atomic
from gan.metrics.registry import Extractor, build_extractor, metrics_in

REFERENCE_FORMAT = 1


@dataclass
class Reference:
    """A reference file: arrays (`feats`, `mu`, `sigma`, `sigma_sqrt` for feature spaces; `points` for toy data)
    + metadata."""
    path: Path
    meta: dict
    arrays: dict[str, np.ndarray]

    @property
    def extractor(self) -> str:
        return self.meta["extractor"]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


def default_extractor(dataset: str, **options) -> str:
    from gan.datasets import dataset_spec

    return dataset_spec(dataset, **options).default_extractor


def default_reference_path(dataset: str, extractor: str, mode: str, split: str, n_real: int, seed: int,
                           results_dir: str | Path = "results") -> Path:
    from gan.layout import Layout

    return Path(Layout(str(results_dir)).reference(dataset, extractor, mode, split, n_real, seed))


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reference_arrays(ext: Extractor, data: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays every metric of the extractor's space declares, and the extractor's own, from one pass."""
    metrics = [m for m in metrics_in(ext.name) if m.reference is not None]
    wanted = {m.feature_in(ext.name) for m in metrics} | set(ext.reference_features)
    features = ext.extract(data, wanted) if wanted else {}
    arrays: dict[str, np.ndarray] = {}
    owners: dict[str, str] = {}
    for owner, made in [(f"extractor {ext.name!r}", ext.reference_arrays(features)),
                        *((f"metric {m.name!r}", m.reference(features[m.feature_in(ext.name)])) for m in metrics
                          if m.feature_in(ext.name) in features)]:
        for key, value in made.items():
            if key in arrays:
                # two metrics that need the same array (KID's and precision/recall's real features) share it;
                # one name for two different arrays is an error
                if arrays[key].dtype == value.dtype and np.array_equal(arrays[key], value):
                    continue
                raise ValueError(f"reference array {key!r} is declared by {owners[key]} and by {owner}")
            arrays[key], owners[key] = value, owner
    return arrays


def compute_reference(dataset: str, extractor: str | None = None, out_path: str | Path | None = None,
                      data_root: str | Path = "resources/data", split: str = "train", mode: str | None = None,
                      n_real: int | None = None, weights_path: str | Path | None = None, device: str = "auto",
                      batch_size: int = 64, num_workers: int = 0, seed: int = 0, *, overwrite: bool = False,
                      dataset_options: dict | None = None, results_dir: str | Path = "results",
                      prepared: str | Path | None = None) -> Path:
    """Real-data statistics for one dataset / split / extractor / mode / n / seed, written once to an npz.

    Images: `n_real` images of `split` (None: all; fewer: a seeded subset without replacement) go through the
    extractor; the file holds the arrays its space's metrics declare (:func:`reference_arrays`).
    Toy data: `n_real` points (default: the extractor's) drawn from the distribution with
    `torch.Generator().manual_seed(seed)`.
    `out_path` None: gan.layout's reference path (every parameter in the name).
    `prepared`: the DAG's prepared dataset file (else the raw files under `data_root` are decoded).
    An existing file is an error unless `overwrite=True` (references are computed once, never silently replaced).
    """
    from gan.datasets import get_dataset

    dataset_options = dict(dataset_options or {})
    extractor = extractor or default_extractor(dataset, **dataset_options)
    if out_path is not None and Path(out_path).exists() and not overwrite:
        raise FileExistsError(f"reference {out_path} exists; delete it or pass overwrite=True (--overwrite)")
    start = time.time()
    ext = build_extractor(extractor, mode, weights_path, device, batch_size, num_workers)  # fails early: weights
    ds = get_dataset(dataset, data_root=data_root, split=split, prepared=prepared, **dataset_options)
    if ds.kind != ext.kind:
        raise ValueError(f"extractor {extractor!r} works on {ext.kind}, dataset {dataset!r} holds {ds.kind}")

    if ds.kind == "points":
        import torch

        n = int(n_real or ext.default_n_real)
        data = ds.sample(n, torch.Generator().manual_seed(seed)).numpy()
    else:
        images = ds.images_uint8().numpy()
        total = len(images)
        n = total if n_real is None else int(n_real)
        if not 2 <= n <= total:
            raise ValueError(f"n_real={n} for {dataset!r} ({split}): the split holds {total} images; "
                             f"ask for 2..{total} (or leave n_real unset for all)")
        data = images[reference_subset(total, n, seed)]

    if out_path is None:
        out_path = default_reference_path(dataset, extractor, ext.mode, split, n, seed, results_dir)
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"reference {out_path} exists; delete it or pass overwrite=True (--overwrite)")

    arrays = reference_arrays(ext, data)
    from gan.utils import package_versions

    meta = {"format": REFERENCE_FORMAT, "dataset": dataset, "extractor": extractor, "mode": ext.mode,
            "split": split, "n_real": n, "seed": seed, "kind": ds.kind, "shape": list(ds.shape),
            "num_classes": ds.num_classes, "data_root": str(data_root), "dataset_options": dataset_options,
            **ext.describe(), "time_s": round(time.time() - start, 3),
            "versions": package_versions(("numpy", "torch", "clean-fid", "pot", "scipy"))}
    atomic.save_npz(out_path, meta=np.array(json.dumps(meta, sort_keys=True, default=str)), **arrays)
    return out_path


def reference_subset(total: int, n: int, seed: int) -> np.ndarray:
    """Indices of the real images a reference uses: all of them, or a seeded subset without replacement."""
    if n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def load_reference(path: str | Path) -> Reference:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"reference statistics {path} not found; compute them first with "
                                f"`python -m gan reference` (Snakemake rule for results/reference/...)")
    remedy = atomic.rerun_remedy("reference", path)
    arrays = atomic.load_npz(path, ("meta",), remedy)  # never unpickled, whatever numpy's error would advise
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError as exc:
        raise atomic.unreadable(path, f"its 'meta' is not valid JSON: {exc}", remedy) from None
    return Reference(path=path, meta=meta, arrays=arrays)


def reference_meta(path: str | Path) -> dict:
    """The metadata of a reference file, or {} when it cannot be read (a missing run's score file)."""
    try:
        return load_reference(path).meta
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return {}
