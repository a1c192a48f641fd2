"""Scoring: reference statistics of real data, one registry of metrics, and the score files of CONTRACTS.md.

Two registries keep a new metric or feature space to one decorated definition:

- `@register_extractor("name")`: a feature space. `inception` (clean-fid's Inception, in `fid.py`),
  `classifier` (a small CNN trained on the dataset's own labels, in `classifier.py`), `points` (toy 2-D data as
  they are, in `toy.py`). An extractor turns samples into features once; every metric of its space reuses them.
- `@register_metric("name", extractors=(...))`: a function `fn(ctx: ScoreContext) -> {key: float}`. It is run for
  every sample file whose reference was built with one of `extractors` (and, when given, `applies(ctx)` is true).

Entry points (what the Snakemake scripts and `python -m gan` call):
- `compute_reference(...)`: real-data statistics, once per dataset, split, extractor, mode, n and seed.
- `score_samples(...)`: a samples npz + a reference -> the scores JSON; `Scorer`: a reference and its extractor
  loaded once for many sample files; `score_checkpoint(...)`: one checkpoint against several feature spaces.
- `gan.metrics.fid.fetch_inception(dest)`, `gan.metrics.classifier.train_classifier(...)`.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gan import atomic

REFERENCE_FORMAT = 1

# ------------------------------------------------------------------------------------------------ registries

EXTRACTORS: dict[str, type] = {}


def register_extractor(name: str):
    """Register a feature space. The class defines:

    kind: "images" | "points"; modes: tuple (the first is the default); default_n_real: int | None (None: the
    whole split); __init__(mode, weights_path, device, batch_size, num_workers);
    features(samples: np.ndarray) -> (feats (N, d), extras: dict); describe() -> dict (weights path, sha256, ...).
    """
    def wrap(cls):
        cls.name = name
        EXTRACTORS[name] = cls
        return cls
    return wrap


@dataclass(frozen=True)
class Output:
    """One number a metric writes, as tables and figures show it."""
    label: str  # display name (tables, axis labels)
    higher_is_better: bool | None  # None: not a score (e.g. an uncertainty), never ranked
    unit: str = ""  # shown in axis labels, e.g. "fraction"
    #: its real-vs-real value (real samples scored against the reference at the same N and protocol) is the
    #: best a generator can expect: the metric's floor
    floor: bool = False
    #: headline order: a dataset's primary metric is its lowest-ranked output with values
    rank: int = 100


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[["ScoreContext"], dict[str, float]]
    extractors: tuple[str, ...]  # the feature spaces it works in
    outputs: dict[str, Output]
    applies: Callable[["ScoreContext"], bool] | None = None

    def is_applicable(self, ctx: "ScoreContext") -> bool:
        return ctx.reference.extractor in self.extractors and (self.applies is None or bool(self.applies(ctx)))


METRICS: dict[str, Metric] = {}


def register_metric(name: str, *, extractors: tuple[str, ...] | str, outputs: dict[str, Output],
                    applies: Callable[["ScoreContext"], bool] | None = None):
    """Register `fn(ctx) -> {key: value}` as metric `name` for the given feature spaces.

    `outputs` declares every key it returns (label, direction, unit, floor); the report reads only these.
    """
    if isinstance(extractors, str):
        extractors = (extractors,)

    def wrap(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        taken = {k for m in METRICS.values() for k in m.outputs} & set(outputs)
        if taken:
            raise ValueError(f"metric {name!r}: output(s) {sorted(taken)} are already another metric's")

        def checked(ctx):
            values = fn(ctx)
            undeclared = sorted(set(values) - set(outputs))
            if undeclared:
                raise ValueError(f"metric {name!r} returned undeclared output(s) {undeclared}")
            return values

        METRICS[name] = Metric(name=name, fn=checked, extractors=tuple(extractors), outputs=dict(outputs),
                               applies=applies)
        return fn
    return wrap


def metric_outputs() -> dict[str, Output]:
    """Every output key of every registered metric (the columns of scores.csv)."""
    return {key: out for metric in METRICS.values() for key, out in metric.outputs.items()}


@dataclass
class Reference:
    """A reference file: arrays (`feats`, `mu`, `sigma` for feature spaces; `points` for toy data) + metadata."""
    path: Path
    meta: dict
    arrays: dict[str, np.ndarray]

    @property
    def extractor(self) -> str:
        return self.meta["extractor"]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


@dataclass
class ScoreContext:
    """What a metric sees: generated features, the reference, the dataset (toy centres) and the seed."""
    features: np.ndarray
    reference: Reference
    seed: int
    extras: dict = field(default_factory=dict)  # e.g. classifier logits of the generated samples
    options: dict = field(default_factory=dict)  # metric options given by the caller
    used_options: dict = field(default_factory=dict)  # options as resolved (recorded in the protocol)
    _dataset: Any = None

    def option(self, key: str, default: Any) -> Any:
        value = type(default)(self.options.get(key, default)) if default is not None else self.options.get(key)
        self.used_options[key] = value
        return value

    @property
    def dataset(self):
        """The dataset object (toy sets: `.centers`, `.std`), built lazily from the reference's metadata."""
        if self._dataset is None:
            from gan.datasets import get_dataset

            self._dataset = get_dataset(self.reference.meta["dataset"], data_root=self.reference.meta["data_root"],
                                        split=self.reference.meta["split"],
                                        **self.reference.meta.get("dataset_options", {}))
        return self._dataset


def build_extractor(name: str, mode: str | None = None, weights_path: str | Path | None = None,
                    device: str = "auto", batch_size: int = 64, num_workers: int = 0):
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; valid: {', '.join(sorted(EXTRACTORS))}")
    cls = EXTRACTORS[name]
    mode = mode or cls.modes[0]
    if mode not in cls.modes:
        raise ValueError(f"extractor {name!r} has no mode {mode!r}; valid: {', '.join(cls.modes)}")
    return cls(mode=mode, weights_path=weights_path, device=device, batch_size=batch_size, num_workers=num_workers)


# ------------------------------------------------------------------------------------------------ references

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


def compute_reference(dataset: str, extractor: str | None = None, out_path: str | Path | None = None,
                      data_root: str | Path = "resources/data", split: str = "train", mode: str | None = None,
                      n_real: int | None = None, weights_path: str | Path | None = None, device: str = "auto",
                      batch_size: int = 64, num_workers: int = 0, seed: int = 0, *, overwrite: bool = False,
                      dataset_options: dict | None = None, results_dir: str | Path = "results",
                      prepared: str | Path | None = None) -> Path:
    """Real-data statistics for one dataset / split / extractor / mode / n / seed, written once to an npz.

    Images: `n_real` images of `split` (None: all; fewer: a seeded subset without replacement) go through the
    extractor; the file holds their features (`feats`, for KID) and `mu`, `sigma` (for Fréchet distances).
    Toy data: `n_real` points (default 10000) drawn from the distribution with `torch.Generator().manual_seed(seed)`.
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

    feats, _ = ext.features(data)
    arrays = ext.reference_arrays(feats)
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


def _reference_meta(path: str | Path) -> dict:
    try:
        return load_reference(path).meta
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return {}


# ------------------------------------------------------------------------------------------------ scores

def _run_ids(npz: dict, dataset, objective, run_seed, step) -> dict:
    """dataset entry / objective entry / run seed / step: as the caller passes them (the DAG's params); the step
    may also come from the samples file. The npz's `seed` is the evaluation seed, never the run's."""
    step = step if step is not None else _npz_scalar(npz, "step")
    return {"dataset": dataset, "objective": objective, "seed": None if run_seed is None else int(run_seed),
            "step": None if step is None else int(step)}


def _npz_scalar(npz: dict, key: str):
    if key not in npz:
        return None
    value = npz[key]
    return value.item() if hasattr(value, "item") else value


def _protocol(ref_meta: dict, n_gen: int | None, seed: int, reference_path: Path) -> dict:
    protocol = {"n_gen": n_gen, "n_real": ref_meta.get("n_real"), "split": ref_meta.get("split"),
                "mode": ref_meta.get("mode"), "extractor": ref_meta.get("extractor"), "eval_seed": seed,
                "reference": str(reference_path), "reference_eval_seed": ref_meta.get("seed")}
    if ref_meta.get("weights_sha256"):
        protocol["weights_sha256"] = ref_meta["weights_sha256"]
    return protocol


class Scorer:
    """One reference and its feature extractor, loaded once, to score many sample files against it (a run's
    checkpoints, a floor's repeats). Nothing is loaded until a file with samples arrives: a run whose samples are
    all missing (diverged) never loads a network.

    `weights_path`: the extractor's weights; default: the path recorded in the reference (Inception: the
    project's `resources/inception-2015-12-05.pt`). Its sha256 must match the reference's (same network).
    `metrics`: only these registered metrics (default: every one that applies to the reference's extractor).
    """

    def __init__(self, reference_path: str | Path, *, weights_path: str | Path | None = None, device: str = "auto",
                 batch_size: int = 64, num_workers: int = 0, metrics: list[str] | None = None):
        self.reference_path = Path(reference_path)
        self.weights_path = weights_path
        self.selected = _select_metrics(metrics)
        self.explicit = bool(metrics)
        self._extractor_args = (weights_path, device, batch_size, num_workers)
        self._loaded: tuple[Reference, Any, dict] | None = None

    def _load(self) -> tuple[Reference, Any, dict]:
        if self._loaded is None:
            reference = load_reference(self.reference_path)
            meta = reference.meta
            weights_path, device, batch_size, num_workers = self._extractor_args
            ext = build_extractor(meta["extractor"], meta["mode"], weights_path or meta.get("weights_path"), device,
                                  batch_size, num_workers)
            described = ext.describe()
            if meta.get("weights_sha256") and described.get("weights_sha256") != meta["weights_sha256"]:
                raise ValueError(f"weights {described.get('weights_path')} (sha256 {described.get('weights_sha256')})"
                                 f" are not those the reference {self.reference_path} was computed with "
                                 f"({meta.get('weights_path')}, sha256 {meta['weights_sha256']})")
            self._loaded = (reference, ext, described)
        return self._loaded

    def score(self, samples_npz: str | Path, out_json: str | Path | None = None, *, seed: int = 0,
              options: dict | None = None, dataset: str | None = None, objective: str | None = None,
              run_seed: int | None = None, step: int | None = None) -> dict:
        """Score one samples npz; write (atomically, when `out_json`) and return the scores JSON of CONTRACTS.md.

        - Samples with status "missing" (a diverged run) give status "missing", their reason, and no metric values.
        - `seed` seeds everything random in the metrics (KID subsets, W1 subsampling) and is recorded with n_gen,
          n_real, split, mode and extractor in "protocol". `options` are metric options (e.g.
          {"w1_max_points": 3000}); the values used are recorded in protocol["metric_options"].
        """
        samples_npz = Path(samples_npz)
        start = time.time()
        with np.load(samples_npz, allow_pickle=False) as npz:
            content = {k: npz[k] for k in npz.files}
        status = str(content.get("status", "ok"))
        reason = str(content.get("reason", "")) or None
        ids = _run_ids(content, dataset, objective, run_seed, step)
        samples = content.get("samples")

        if status == "ok" and samples is not None and samples.dtype.kind == "f" and not np.isfinite(samples).all():
            status, reason = "missing", "samples contain non-finite values"
        if status != "ok":
            ref_meta = self._loaded[0].meta if self._loaded else _reference_meta(self.reference_path)
            protocol = {**_protocol(ref_meta, None, seed, self.reference_path),
                        "samples_eval_seed": _npz_scalar(content, "seed")}
            result = {**ids, "status": "missing", "reason": reason or f"samples status {status!r}",
                      "kind": ref_meta.get("kind"), "metrics": {}, "protocol": protocol}
            if out_json is not None:
                atomic.write_json(out_json, result)
            return result

        reference, ext, described = self._load()
        meta = reference.meta
        kind = str(content.get("kind", meta["kind"]))
        if kind != meta["kind"]:
            raise ValueError(f"{samples_npz} holds {kind}, reference {self.reference_path} was built on "
                             f"{meta['kind']}")
        if meta["kind"] == "images" and list(samples.shape[1:]) != list(meta["shape"]):
            raise ValueError(f"{samples_npz}: images of shape {tuple(samples.shape[1:])}, reference "
                             f"{self.reference_path} ({meta['dataset']}) has {tuple(meta['shape'])}")
        if meta["kind"] == "images" and samples.dtype != np.uint8:
            raise ValueError(f"{samples_npz}: images must be uint8 (N, C, H, W), got {samples.dtype}")
        if len(samples) < 2:
            raise ValueError(f"{samples_npz}: {len(samples)} samples; at least 2 are needed")

        feats, extras = ext.features(samples)
        ctx = ScoreContext(features=feats, reference=reference, seed=seed, extras=extras, options=dict(options or {}))
        values: dict[str, float] = {}
        for metric in self.selected:
            if metric.is_applicable(ctx):
                values.update(metric.fn(ctx))
            elif self.explicit:
                raise ValueError(f"metric {metric.name!r} does not apply to extractor {reference.extractor!r} / "
                                 f"dataset {meta['dataset']!r}")
        protocol = _protocol(meta, int(len(samples)), seed, self.reference_path)
        protocol["samples_eval_seed"] = _npz_scalar(content, "seed")
        if ctx.used_options:
            protocol["metric_options"] = ctx.used_options
        result = {**ids, "status": "ok", "reason": None, "kind": meta["kind"], "metrics": values,
                  "protocol": protocol, "device": described.get("device"), "time_s": round(time.time() - start, 3)}
        if out_json is not None:
            atomic.write_json(out_json, result)
        return result


def score_samples(samples_npz: str | Path, reference_path: str | Path, out_json: str | Path | None = None, *,
                  weights_path: str | Path | None = None, device: str = "auto", batch_size: int = 64,
                  num_workers: int = 0, metrics: list[str] | None = None, **score_kwargs: Any) -> dict:
    """Score one samples npz against a reference (see :class:`Scorer`; `score_kwargs`: :meth:`Scorer.score`'s)."""
    scorer = Scorer(reference_path, weights_path=weights_path, device=device, batch_size=batch_size,
                    num_workers=num_workers, metrics=metrics)
    return scorer.score(samples_npz, out_json, **score_kwargs)


def _select_metrics(names: list[str] | None) -> list[Metric]:
    if not names:
        return list(METRICS.values())
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; valid: {', '.join(sorted(METRICS))}")
    return [METRICS[n] for n in names]


def references_and_weights(named_inputs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """{extractor: reference} and {extractor: weights} from a rule's named inputs `reference_X` / `weights_X`
    (how the score and floor rules declare one reference and one weights file per feature space)."""
    pick = lambda prefix: {k.removeprefix(prefix): v for k, v in named_inputs.items() if k.startswith(prefix)}  # noqa: E731
    return pick("reference_"), pick("weights_")


def build_scorers(references: dict[str, str | Path], weights: dict[str, str | Path] | None = None,
                  **extractor_kwargs: Any) -> dict[str, Scorer]:
    """A :class:`Scorer` per feature space from {extractor: reference} and {extractor: weights}, as the score and
    floor rules declare them (`extractor_kwargs`: device, batch_size, num_workers, metrics)."""
    return {extractor: Scorer(reference, weights_path=(weights or {}).get(extractor), **extractor_kwargs)
            for extractor, reference in references.items()}


def score_checkpoint(samples: str | Path, scorers: dict[str, Scorer], out_json: str | Path | None,
                     **score_kwargs: Any) -> dict[str, Any]:
    """One scores JSON for a checkpoint from several feature spaces (e.g. Inception FID and the classifier's).

    Metric names differ between extractors, so they merge without clashes; the protocol of the first extractor
    is the file's headline protocol and every extractor's own protocol is kept under "protocols".
    """
    merged: dict[str, Any] | None = None
    protocols = {}
    for extractor, scorer in scorers.items():
        result = scorer.score(samples, None, **score_kwargs)
        protocols[extractor] = result["protocol"]
        if merged is None:
            merged = dict(result, metrics=dict(result["metrics"]))
        else:
            merged["metrics"].update(result["metrics"])
    assert merged is not None, "no reference to score against"
    merged["protocols"] = protocols
    if out_json is not None:
        atomic.write_json(out_json, merged)
    return merged


def score_run(samples_index: str | Path, scorers: dict[str, Scorer], index: str | Path | None = None, *,
              seed: int = 0, options: dict | None = None, dataset: str | None = None, objective: str | None = None,
              run_seed: int | None = None) -> dict[str, Any]:
    """Every checkpoint of a run listed in its samples index (gan.sampling.sample_run): one score file each (as
    :func:`score_checkpoint` writes them, beside the samples in the run folder), then the index listing them (the
    `score` rule's declared output). The scorers load their references and networks once for all checkpoints.

    The retry of an interrupted call keeps the checkpoints it finished (gan.progress): a score file is reused when
    its samples, the references and weights, the settings and the code are those it was made with."""
    from gan.layout import RunFiles
    from gan.progress import StepProgress

    listed = atomic.read_json(samples_index)
    files = RunFiles(listed["run_dir"])
    start = time.time()
    settings = {"eval_seed": seed, "options": options, "dataset": dataset, "objective": objective,
                "run_seed": run_seed}
    inputs = [s.reference_path for s in scorers.values()] + [s.weights_path for s in scorers.values()
                                                             if s.weights_path]
    progress = StepProgress(files.progress("scores"), settings, inputs=inputs)
    entries, reused = {}, []
    for step in sorted(int(k) for k in listed["steps"]):
        samples = listed["steps"][str(step)]["samples"]
        out = files.scores(step)
        result = progress.reusable(step, samples)
        if result is None:
            scores = score_checkpoint(samples, scorers, out, seed=seed, options=options, dataset=dataset,
                                      objective=objective, run_seed=run_seed, step=step)
            result = {"status": scores["status"], "time_s": scores.get("time_s")}
            progress.record(step, samples, [out], result)
        else:
            reused.append(step)
        entries[str(step)] = {**result, "scores": str(out)}
    out_index = {"run_dir": str(files.dir), "dataset": dataset, "objective": objective, "seed": run_seed,
                 "eval_seed": seed, "steps": entries, "reused_steps": reused, "time_s": round(time.time() - start, 3)}
    atomic.write_json(index if index is not None else files.scores_index, out_index)
    progress.finish()
    return out_index


# registration: importing the modules registers their extractors and metrics
from gan.metrics import fid, classifier, toy  # noqa: E402,F401

__all__ = ["EXTRACTORS", "METRICS", "Metric", "Reference", "ScoreContext", "register_extractor", "register_metric",
           "build_extractor", "compute_reference", "load_reference", "score_samples", "Output", "metric_outputs",
           "default_reference_path", "sha256_file", "score_checkpoint", "Scorer", "build_scorers",
           "score_run"]
