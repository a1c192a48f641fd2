"""Scoring samples against references: the score files of docs/CONTRACTS.md.

A :class:`Scorer` loads one reference and its extractor once, asks the extractor for the features its space's
metrics read (one pass), and runs each metric on its feature. `score_checkpoint` merges the spaces of a dataset
into one file per checkpoint; `score_run` scores every checkpoint of a run (the DAG's `score` job).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gan import atomic
from gan.layout import RunFiles
from gan.metrics.reference import Reference, load_reference, reference_meta
from gan.metrics.registry import METRICS, Metric, build_extractor, metric_keys


@dataclass
class ScoreContext:
    """What a metric sees: the generated samples' feature it asked for, the reference, the dataset and the seed."""
    features: np.ndarray
    feature: str  # the feature's name (`pool`, `embedding`, `logits`, `points`, ...)
    reference: Reference
    seed: int
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


def select_metrics(names: list[str] | None) -> list[tuple[Metric, str | None]]:
    """(metric, the only space it may run in or None) for metric names or output keys (`fid`: FD in Inception's
    space); every registered metric in every space when `names` is empty."""
    if not names:
        return [(m, None) for m in METRICS.values()]
    keys = metric_keys()
    unknown = [n for n in names if n not in METRICS and n not in keys]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; valid: {', '.join(sorted(METRICS))} or an "
                         f"output key ({', '.join(sorted(keys))})")
    return [(METRICS[n], None) if n in METRICS else (keys[n][0], keys[n][1]) for n in names]


class Scorer:
    """One reference and its feature extractor, loaded once, to score many sample files against it (a run's
    checkpoints, a floor's repeats). Nothing is loaded until a file with samples arrives: a run whose samples are
    all missing (diverged) never loads a network.

    `weights_path`: the extractor's weights; default: the path recorded in the reference. Its sha256 must match
    the reference's (same network). `metrics`: only these metrics (names or output keys; default: every one
    that runs in the reference's space).
    """

    def __init__(self, reference_path: str | Path, *, weights_path: str | Path | None = None, device: str = "auto",
                 batch_size: int = 64, num_workers: int = 0, metrics: list[str] | None = None):
        self.reference_path = Path(reference_path)
        self.weights_path = weights_path
        self.selected = select_metrics(metrics)
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

    def _not_applicable(self, metric: Metric, meta: dict) -> None:
        if self.explicit:
            raise ValueError(f"metric {metric.name!r} does not apply to extractor {meta['extractor']!r} / "
                             f"dataset {meta['dataset']!r}")

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
        # a deleted or damaged samples file names the sample job's index to delete, so the workflow remakes both
        index = RunFiles(samples_npz.parent.parent).samples_index
        remedy = atomic.rerun_remedy("sample", samples_npz, index)
        if not samples_npz.exists():
            raise FileNotFoundError(f"{samples_npz} is missing: {remedy}")
        content = atomic.load_npz(samples_npz, (), remedy)
        status = str(content.get("status", "ok"))
        reason = str(content.get("reason", "")) or None
        ids = _run_ids(content, dataset, objective, run_seed, step)
        samples = content.get("samples")

        if status == "ok" and samples is not None and samples.dtype.kind == "f" and not np.isfinite(samples).all():
            status, reason = "missing", "samples contain non-finite values"
        if status != "ok":
            ref_meta = self._loaded[0].meta if self._loaded else reference_meta(self.reference_path)
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

        space = reference.extractor
        runs = []
        for metric, only in self.selected:
            feature = metric.feature_in(space) if only in (None, space) else None
            if feature is None:
                self._not_applicable(metric, meta)
            else:
                runs.append((metric, feature))
        features = ext.extract(samples, {feature for _, feature in runs})  # one pass for every metric
        options, used_options = dict(options or {}), {}
        values: dict[str, float] = {}
        for metric, feature in runs:
            if feature not in features:  # these weights do not give it (a per-channel classifier's logits)
                self._not_applicable(metric, meta)
                continue
            ctx = ScoreContext(features=features[feature], feature=feature, reference=reference, seed=seed,
                               options=options, used_options=used_options)
            if metric.applies is not None and not metric.applies(ctx):
                self._not_applicable(metric, meta)
                continue
            keys = metric.outputs_in(space)
            values.update({keys[key][0]: value for key, value in metric.fn(ctx).items()})
        protocol = _protocol(meta, int(len(samples)), seed, self.reference_path)
        protocol["samples_eval_seed"] = _npz_scalar(content, "seed")
        if used_options:
            protocol["metric_options"] = used_options
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

    Output keys are unique across spaces (the registry refuses two writers of one key); the protocol of the first
    extractor is the file's headline protocol and every extractor's own protocol is kept under "protocols".
    """
    merged: dict[str, Any] | None = None
    protocols = {}
    for extractor, scorer in scorers.items():
        result = scorer.score(samples, None, **score_kwargs)
        protocols[extractor] = result["protocol"]
        if merged is None:
            merged = dict(result, metrics=dict(result["metrics"]))
            continue
        clash = sorted(set(merged["metrics"]) & set(result["metrics"]))
        if clash:
            raise ValueError(f"{samples}: output(s) {clash} come from two feature spaces (score each space's "
                             "reference against a different set of metrics)")
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
