"""MLflow mirror of the result files, with one writer: `sync` (rule `mlflow_sync`, `python -m gan mlflow-sync`).

The files under results/ are the source of truth, and `sync` is the one writer: it reads the files of every
finished run (the ones with a summary.json) and adds whatever MLflow lacks. With a tracking URI configured, a
training job calls it for its own run at checkpoints (`LiveMirror`: the curve and the previews so far, the run left
running) and when it ends, failing soft; the DAG's `mlflow_sync` rule does the rest at the end. Every sync is:

* idempotent: a second sync adds nothing (metric points and sample pictures are compared by (key, step), params
  by key, artifacts by name and size); a run is found again by the tag
  ``gan_bench.key = "{dataset}/{objective}/seed{seed}"``;
* a store or server that is down costs no result: the sync fails with one line (TrackingError) and a later sync
  fills everything in from the files;
* two syncs at once (the DAG's and a user's) take turns on one ``fcntl.flock`` under the results folder, so no run
  is created twice.

Structure, as MLflow 3's UI expects it: one experiment per benchmark, tagged as a training experiment; one parent
run (key "benchmark": the benchmark config's hash and keys as params; tables, figures, Figure 1(a), provenance.json)
with a child per (dataset, objective, seed) (MLflow's
``mlflow.parentRunId``); the code version in ``mlflow.source.git.commit``; metric points, run start and end at the
training's own times, from summary.json and metrics.csv; the pictures the training job draws of its generator
(``previews/``: fixed noise, at step 0 and at every checkpoint) as images at their steps (``log_image`` key
"samples": the step slider of the run's page, whose image card opens at step 0, so step 0 has one), there while the
run trains; the evaluation's sample pictures as artifacts (``samples/``), so each (key, step) has one picture; a run
trained before previews existed has its evaluation pictures as its step images. The sync reports the experiment's
address in the UI (`ui_path`): MLflow 3.17's UI opens an experiment on its GenAI overview unless the address asks
for training.

Store: env MLFLOW_TRACKING_URI, else the configured URI, else ``sqlite:///<results>/mlflow.db`` with artifacts in
``<results>/mlartifacts``. MLflow records artifact locations as absolute paths: the store of a moved or copied
results folder still points at the original's artifacts, so the sync refuses it (one line); delete mlflow.db and
mlartifacts/ and sync again, and the mirror is rebuilt from the files. A value changed on disk (a rescore) is
logged again at its step (`metric_points_changed`); a changed param is kept as a ``param_changed.*`` tag.
Credentials in a tracking URI (``http://user:pw@host``) are never written or printed (gan.provenance.redact):
prefer MLflow's MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import fcntl
import glob
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from gan.atomic import read_json, read_score_file, read_summary
from gan.layout import Layout, RunFiles
from gan.provenance import redact

log = logging.getLogger(__name__)

KEY_TAG = "gan_bench.key"
BENCHMARK_KEY = "benchmark"
DEFAULT_EXPERIMENT = "gan-bench"
PARENT_TAG = "mlflow.parentRunId"
GIT_TAG = "mlflow.source.git.commit"
# MLflow's source tags (mlflow.utils.mlflow_tags): the UI's Source column shows the name, with the commit beside it
SOURCE_TAGS = {"mlflow.source.type": "LOCAL", "mlflow.source.name": "gan-bench"}
# MLflow's record of the experiment type (mlflow/server/js ExperimentKind): UIs without the sidebar's workflow switch
# open a tagged experiment on its runs and ask no "which type?" question. MLflow 3.17's UI ignores it for the
# landing tab: the switch decides (URL ?workflowType=, else the browser's last choice, default GenAI), hence UI_PATH.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
UI_PATH = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"  # runs tab, sidebar on training
SAMPLES_IMAGE_KEY = "samples"  # log_image key of a run's pictures by step (read_run: its previews)
# log_image names its files images/{key}+step+{step}+timestamp+{ms}+{uuid}[+compressed].png|webp ("%" for "+" in
# older MLflow); MLflow's UI reads the steps back from these names, and so does the sync to know what is logged
_IMAGE_NAME = re.compile(r"(?P<key>.+?)[+%]step[+%](?P<step>-?\d+)[+%]timestamp[+%]-?\d+[+%][^+%]+[+%]compressed\.webp")
_MAX_METRICS, _MAX_PARAMS_TAGS, _MAX_VALUE = 1000, 100, 6000  # MLflow's limits per log_batch / per value


class TrackingError(RuntimeError):
    """MLflow could not be brought up to date (the result files are untouched; sync again later)."""


def resolve_tracking_uri(configured: str | None, results_dir: str | os.PathLike) -> str:
    """env MLFLOW_TRACKING_URI, else `configured`, else the embedded SQLite store of results_dir."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env or configured:
        return env or str(configured)
    return "sqlite:///" + Path(Layout(str(results_dir)).mlflow_db).resolve().as_posix()


def run_key(dataset: str, objective: str, seed: int | str) -> str:
    key = f"{dataset}/{objective}/seed{int(seed)}"
    if "'" in key or '"' in key:  # it goes into a search filter
        raise ValueError(f"run key must not contain quotes: {key!r}")
    return key


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys, lists JSON, everything a string (cut to MLflow's length limit)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{prefix}{key}."))
        else:
            text = json.dumps(list(value)) if isinstance(value, (list, tuple)) else (
                "{}" if isinstance(value, Mapping) else str(value))
            out[f"{prefix}{key}"] = _cut(text)
    return out


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 3] + "..."


def _number(value: Any) -> float | None:
    """A metric value, or None for an empty or non-numeric cell (NaN/inf are kept: divergence)."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# --------------------------------------------------------------------------------------------------
# What one run's files say
# --------------------------------------------------------------------------------------------------

def _start_seconds(summary: Mapping[str, Any], summary_path: Path) -> float:
    """When training started (epoch seconds): summary.json's own start timestamp if it has one; else summary.json
    has only the training's duration, so start = its mtime (the end of training) - wall_clock_s. wall_clock_s sums
    the attempts of a resumed run, so the time between attempts is left out."""
    for name in ("started_at", "start_time"):
        value = summary.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.datetime.fromisoformat(value).timestamp()
    return summary_path.stat().st_mtime - float(summary.get("wall_clock_s") or 0.0)  # an old summary.json


def _curve_so_far(files: RunFiles) -> tuple[float, float, int | None]:
    """(started, elapsed, last step) of a run still training, from its metrics.csv so far: its mtime less the last
    row's time_s (now, and nothing elapsed, before it exists)."""
    elapsed, last = 0.0, None
    if not files.metrics.exists():
        return datetime.datetime.now().timestamp(), elapsed, last
    with open(files.metrics, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if _number(row.get("step")) is not None and _number(row.get("time_s")) is not None:
                last, elapsed = int(_number(row["step"])), _number(row["time_s"])
    return files.metrics.stat().st_mtime - elapsed, elapsed, last


def _started_so_far(layout: Layout) -> list[float]:
    """When each run folder's training started, as far as its files tell now (epoch seconds): summary.json's start
    for a finished run, its curve so far for one still training (it writes metrics.csv before its first step)."""
    starts = []
    for metrics in glob.glob(str(layout.run("*", "*", "*").metrics)):
        files = RunFiles(str(Path(metrics).parent))
        with contextlib.suppress(OSError, ValueError, TypeError):
            starts.append(_start_seconds(read_summary(files.summary), files.summary) if files.summary.exists()
                          else _curve_so_far(files)[0])
    return starts


def _training_summary(files: RunFiles, live: Mapping[str, Any]) -> dict[str, Any]:
    """What summary.json will say, as far as a run still training knows it: identity and settings from the training
    job (`live`: dataset, objective, seed, config), time from its metrics.csv so far."""
    from .provenance import config_hash

    started, elapsed, last = _curve_so_far(files)
    config = dict(live["config"])
    return {"status": "running", "dataset": live["dataset"], "objective": live["objective"], "seed": live["seed"],
            "model": config.get("model"), "config": config, "config_hash": config_hash(config),
            "started_at": started, "wall_clock_s": elapsed, "steps_done": last, "checkpoints": {}}


def read_run(run_dir: str | os.PathLike, results_dir: str | os.PathLike | None = None,
             live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything MLflow should hold for one finished run, read from its files (identity from summary.json); with
    `live` (dataset, objective, seed, config: the training job's own) and no summary.json yet, what a run still
    training has written (metrics.csv so far), its `status` tag "running".

    Returns {"key", "name", "start_ms", "end_ms", "tags", "params", "metrics": [Metric], "files": [(path, artifact
    dir)], "pictures": [(step, path)]: the step images, "finished"}.
    """
    from mlflow.entities import Metric

    files = RunFiles(run_dir)
    finished = files.summary.exists()
    if not finished and live is None:
        raise FileNotFoundError(f"{files.summary} does not exist: the run has not finished training")
    summary = read_summary(files.dir) if finished else _training_summary(files, live)
    dataset, objective, seed = summary["dataset"], summary["objective"], int(summary["seed"])
    start = _start_seconds(summary, files.summary)
    end = start + float(summary.get("wall_clock_s") or 0.0)
    config = summary.get("config") or {}
    git = summary.get("git") or {}
    tags = {"dataset": dataset, "objective": objective, "seed": str(seed), "status": str(summary.get("status")),
            "model": str(summary.get("model")), "device": str(summary.get("device")),
            "config_hash": str(summary.get("config_hash")), "gan_bench.git_dirty": str(git.get("dirty")).lower(),
            **SOURCE_TAGS}
    if git.get("commit"):
        tags[GIT_TAG] = git["commit"]
    if results_dir is not None:
        with contextlib.suppress(ValueError):
            tags["run_dir"] = files.dir.resolve().relative_to(Path(results_dir).resolve()).as_posix()
    tags.update({f"version.{k}": str(v) for k, v in (summary.get("versions") or {}).items()
                 if isinstance(v, (str, int, float))})
    params = flatten_params(config)

    metrics = []
    if files.metrics.exists():
        with open(files.metrics, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                step = _number(row.get("step"))
                if step is None:
                    continue
                # time_s: training seconds so far (cumulative over resumes), so each point keeps its real time
                ts = _ms(start + (_number(row.get("time_s")) or 0.0))
                metrics += [Metric(f"train/{name}", value, ts, int(step)) for name, value in
                            ((n, _number(v)) for n, v in row.items() if n != "step") if value is not None]
    steps_done = int(summary.get("steps_done") or 0)
    if finished:
        metrics += [Metric(f"summary/{name}", _number(summary[name]), _ms(end), steps_done)
                    for name in ("steps_done", "wall_clock_s", "diverged_step")
                    if _number(summary.get(name)) is not None]

    missing, evaluated = [], []
    checkpoint_steps = sorted(int(step) for step in config.get("checkpoint_steps") or ())
    for step in checkpoint_steps:
        path = files.scores(step)
        # a step past steps_done has no checkpoint (diverged before it): its picture only says "no samples"
        if step <= steps_done and files.picture(step).exists():
            evaluated.append((step, files.picture(step)))
        if not path.exists():
            continue
        score = read_score_file(files.dir, int(step))
        ts = _ms(path.stat().st_mtime)  # when the checkpoint was scored
        metrics += [Metric(f"score/{name}", value, ts, int(score["step"])) for name, value in
                    ((n, _number(v)) for n, v in (score.get("metrics") or {}).items()) if value is not None]
        params.update({f"protocol.{k}": _cut(str(v)) for k, v in (score.get("protocol") or {}).items()})
        if score.get("status") == "missing":
            missing.append(f"step {score['step']}: {score.get('reason') or 'missing'}")
    if missing:
        tags["scores.missing"] = _cut("; ".join(missing))
    # the step images: the training's previews (step 0 and every checkpoint, there while it trains), the evaluation's
    # pictures then plain artifacts, so that a (key, step) has one picture; a run trained without previews (before
    # they existed) keeps its evaluation pictures as its step images
    previews = [(step, files.preview(step)) for step in (0, *checkpoint_steps) if files.preview(step).exists()]
    pictures = previews or evaluated
    artifacts = [(path, "samples") for _, path in evaluated] if previews else []
    if finished:
        artifacts.insert(0, (files.summary, None))
    return {"key": run_key(dataset, objective, seed), "name": f"{dataset}-{objective}-seed{seed}",
            "start_ms": _ms(start), "end_ms": _ms(end), "tags": tags, "params": params, "metrics": metrics,
            "files": artifacts, "pictures": pictures, "finished": finished}


# --------------------------------------------------------------------------------------------------
# Writing to MLflow (only `sync` calls these, under the lock)
# --------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _sync_lock(layout: Layout) -> Iterator[None]:
    """One sync at a time per results folder; the kernel frees the lock when the process dies, even on SIGKILL."""
    path = Path(layout.mlflow_lock)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a")  # an empty lock file, not a result: not written through gan.atomic
    except OSError as err:
        raise TrackingError(f"cannot take the sync lock {path} ({err.strerror}): the MLflow mirror is written "
                            "under the results folder, which must be writable") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _short_http_retries(uri: str) -> Iterator[None]:
    """MLflow's HTTP defaults (7 retries with backoff, 120 s timeout) stall a sync to a dead server for minutes;
    use 2 retries and 30 s unless the user set them. MLflow reads these per request, so scoping them works."""
    added = [name for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
             if uri.startswith(("http://", "https://")) and name not in os.environ]
    os.environ.update({name: "2" if name.endswith("RETRIES") else "30" for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _local_path(location: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(location).path) if location.startswith("file:") else location)


def _experiment(client, name: str, artifact_location: str | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location=artifact_location, tags=dict([EXPERIMENT_KIND]))
    if artifact_location is not None:
        # MLflow records the artifact folder as an absolute path: the store of a copied or moved results folder
        # still points at the original's, and a sync would overwrite that folder's tables and figures
        have, root = _local_path(exp.artifact_location).resolve(), Path(artifact_location).parent
        if not have.is_relative_to(root):
            raise TrackingError(f"experiment {name!r} keeps its artifacts in {have}, outside this results folder "
                                f"{root} (a copied or moved results folder?): nothing synced; delete "
                                f"{Path(artifact_location).parent / 'mlflow.db'} and {artifact_location} (the "
                                "mirror is rebuilt from the files) or sync to another experiment")
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if exp.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        client.set_experiment_tag(exp.experiment_id, *EXPERIMENT_KIND)
    return exp.experiment_id


def _find_or_create(client, experiment_id: str, key: str, name: str, start_ms: int, tags: Mapping[str, str]):
    """(run, created) for a key; the lock makes find-then-create safe. Duplicates (none expected) -> the oldest."""
    from mlflow.entities import ViewType

    runs = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'",
                              run_view_type=ViewType.ACTIVE_ONLY, max_results=10)
    if runs:
        return min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)), False
    run = client.create_run(experiment_id, start_time=start_ms, tags={KEY_TAG: key, **tags}, run_name=name)
    return client.get_run(run.info.run_id), True


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN (a diverged run's loss) equals NaN here


def _update(client, run, tags: Mapping[str, str], params: Mapping[str, str],
            metrics: list) -> tuple[int, int, int]:
    """Add the params, metric points and changed tags MLflow lacks; returns (params added, points added, points
    changed). A point whose value changed on disk (a rescore) is logged again at its step with a later timestamp:
    MLflow keeps both, and shows the newer one as the run's value.

    Params are immutable in MLflow: a different value for a logged key (a rerun with an edited config) is kept as
    the tag `param_changed.<key>` with a warning, never an error."""
    from mlflow.entities import Param, RunTag

    run_id, have = run.info.run_id, run.data
    changed = {f"param_changed.{k}": v for k, v in params.items() if k in have.params and have.params[k] != v}
    if changed:
        log.warning("run %s: %d params differ from MLflow's (%s); kept as param_changed.* tags", run_id,
                    len(changed), ", ".join(k.split(".", 1)[1] for k in list(changed)[:5]))
    new_tags = [RunTag(k, v) for k, v in {**tags, **changed}.items() if have.tags.get(k) != v]
    new_params = [Param(k, v) for k, v in params.items() if k not in have.params]
    from mlflow.entities import Metric

    wanted = {(m.key, m.step): m for m in metrics}  # a repeated (key, step) keeps the file's last word
    logged: dict[str, dict[int, tuple[int, float]]] = {}  # key -> step -> (timestamp, value) of its newest point
    for key in {k for k, _ in wanted}:
        points = logged.setdefault(key, {})
        for m in client.get_metric_history(run_id, key) if key in have.metrics else ():
            if m.step not in points or m.timestamp >= points[m.step][0]:
                points[m.step] = (m.timestamp, m.value)
    new_metrics, changed_points = [], 0
    for (key, step), m in wanted.items():
        newest = logged[key].get(step)
        if newest is None:
            new_metrics.append(m)
        elif not _same(newest[1], m.value):
            new_metrics.append(Metric(key, m.value, max(m.timestamp, newest[0] + 1), step))
            changed_points += 1
    new_metrics.sort(key=lambda m: (m.step, m.key))
    for items, size, field in ((new_tags, _MAX_PARAMS_TAGS, "tags"), (new_params, _MAX_PARAMS_TAGS, "params"),
                               (new_metrics, _MAX_METRICS, "metrics")):
        for i in range(0, len(items), size):
            client.log_batch(run_id, **{field: items[i:i + size]})
    return len(new_params), len(new_metrics) - changed_points, changed_points


def _upload(client, run_id: str, files: Iterable[tuple[Path, str | None]], always: bool = False) -> int:
    """Upload (file, artifact folder) pairs not already there with the same size (all of them with `always`:
    regenerated figures and tables may keep their size). Returns how many were uploaded."""
    listed: dict[str | None, dict[str, int]] = {}
    uploaded = 0
    for path, folder in files:
        if not always:
            if folder not in listed:
                listed[folder] = {Path(f.path).name: f.file_size for f in client.list_artifacts(run_id, folder)}
            if listed[folder].get(path.name) == path.stat().st_size:
                continue
        client.log_artifact(run_id, str(path), artifact_path=folder)
        uploaded += 1
    return uploaded


def _log_pictures(client, run_id: str, pictures: Iterable[tuple[int, Path]]) -> int:
    """Log each (step, picture) whose step MLflow lacks as a step image; returns how many were logged.

    A step counts as logged once its compressed copy exists (log_image writes it after the full-size one), so a
    sync killed in between logs that step again rather than leave it without the copy the UI's slider shows."""
    pictures = list(pictures)
    if not pictures:
        return 0
    from PIL import Image

    logged = {int(m["step"]) for f in client.list_artifacts(run_id, "images")
              if (m := _IMAGE_NAME.fullmatch(Path(f.path).name)) and m["key"] == SAMPLES_IMAGE_KEY}
    added = 0
    for step, path in pictures:
        if step in logged:
            continue
        with Image.open(path) as image:
            client.log_image(run_id, image, key=SAMPLES_IMAGE_KEY, step=step, timestamp=_ms(path.stat().st_mtime))
        added += 1
    return added


def _timed_from(child: dict[str, Any], start_ms: int | None) -> dict[str, Any]:
    """`child` with its points and end timed from `start_ms`, the start MLflow already has for it: a run its
    training job created while training (LiveMirror) started when its curve did, and summary.json's start (training
    end minus wall_clock_s, which leaves the mirror's own time out) can be seconds later. One base keeps every point
    at start + time_s and the run's duration equal to wall_clock_s."""
    shift = (start_ms if start_ms is not None else child["start_ms"]) - child["start_ms"]
    if not shift:
        return child
    from mlflow.entities import Metric

    return {**child, "start_ms": child["start_ms"] + shift, "end_ms": child["end_ms"] + shift,
            "metrics": [Metric(m.key, m.value, m.timestamp + shift, m.step) for m in child["metrics"]]}


def _terminate(client, run, end_ms: int) -> None:
    if run.info.status != "FINISHED" or (run.info.end_time or 0) != end_ms:
        client.set_terminated(run.info.run_id, status="FINISHED", end_time=end_ms)


def _benchmark_files(layout: Layout) -> list[tuple[Path, str]]:
    """The benchmark's final outputs that exist: every file of tables/, figures/ and figure1a/ (WGAN-GP Figure 1(a)
    and its gradient-norm table; its critics' npz stay on disk), and provenance.json."""
    out = []
    figure1a = Path(layout.figure1a_table("csv")).parent
    for folder in (Path(layout.table("x", "csv")).parent, Path(layout.figure("x", "png")).parent, figure1a):
        out += [(p, folder.name) for p in sorted(folder.glob("*")) if p.is_file() and not p.name.startswith(".")
                and not (folder == figure1a and p.suffix == ".npz")]
    provenance = Path(layout.provenance)
    return out + ([(provenance, None)] if provenance.is_file() else [])


# --------------------------------------------------------------------------------------------------
# The sync
# --------------------------------------------------------------------------------------------------

def benchmark_params(config: Mapping[str, Any]) -> dict[str, str]:
    """The parent run's params: the benchmark config's hash and every key of it (seeds, objectives, datasets with
    their settings, scoring, ...) as dotted params, without credentials."""
    from .provenance import config_hash

    return {"config_hash": config_hash(dict(config)), **flatten_params(redact(dict(config)))}


def sync(results_dir: str | os.PathLike = "results", tracking_uri: str | None = None,
         experiment: str = DEFAULT_EXPERIMENT,
         runs: Iterable[tuple[str, str, int]] | None = None,
         benchmark: Mapping[str, Any] | None = None,
         live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Bring MLflow up to date from the result files; idempotent. Returns what it did, as a JSON-able dict.

    `runs`: the (dataset, objective, seed) to mirror (the DAG's grid); default every run folder with a summary.json.
    `benchmark`: the benchmark's config, the parent run's params (benchmark_params). `live`: a training job's own
    run while it trains (dataset, objective, seed, config; `LiveMirror`): mirrored alone, with its curve so far and
    left running, and the parent's files are left to the DAG's sync.
    Raises FileNotFoundError for a missing results folder or summary, TrackingError when MLflow fails.
    """
    from mlflow import MlflowClient

    if not Path(results_dir).is_dir():
        raise FileNotFoundError(f"no results folder {results_dir}")
    layout = Layout(str(results_dir))
    uri = resolve_tracking_uri(tracking_uri, results_dir)
    if live is not None:
        children = [read_run(layout.run_dir(live["dataset"], live["objective"], live["seed"]), results_dir, live)]
    else:
        if runs is None:
            run_dirs = sorted(Path(p).parent for p in glob.glob(str(layout.run("*", "*", "*").summary)))
        else:
            run_dirs = [Path(layout.run_dir(d, o, s)) for d, o, s in runs]
        children = [read_run(d, results_dir) for d in run_dirs]  # every file is read before MLflow is touched
    local = not uri.startswith(("http://", "https://", "databricks"))
    artifact_location = Path(layout.mlflow_artifacts).resolve().as_posix() if local else None
    report = {"tracking_uri": redact(uri), "experiment": experiment, "ui_path": None, "runs": len(children),
              "runs_created": 0, "params_added": 0, "metric_points_added": 0, "metric_points_changed": 0,
              "images_added": 0, "artifacts_added": 0}
    key = "(store)"
    with _sync_lock(layout), _short_http_retries(uri):
        try:
            client = MlflowClient(tracking_uri=uri)
            experiment_id = _experiment(client, experiment, artifact_location)
            report["ui_path"] = UI_PATH.format(experiment_id=experiment_id)
            key = BENCHMARK_KEY
            start = min((c["start_ms"] for c in children), default=_ms(datetime.datetime.now().timestamp()))
            if live is not None:
                # a live sync may create the parent while the DAG's other trainings, started a little earlier, have
                # not reached a checkpoint: it starts at the earliest start any run folder shows, less a second for
                # those estimates' jitter, so that every child falls inside it
                start = min([start, *(_ms(t) for t in _started_so_far(layout))]) - 1000
            end = max((c["end_ms"] for c in children), default=start)
            git = next((c["tags"][GIT_TAG] for c in children if GIT_TAG in c["tags"]), None)
            parent, created = _find_or_create(client, experiment_id, key, experiment, start, {})
            report["runs_created"] += created
            n_params, _, _ = _update(client, parent, {**SOURCE_TAGS, **({GIT_TAG: git} if git else {})},
                                     benchmark_params(benchmark) if benchmark else {}, [])
            report["params_added"] += n_params
            for child in children:
                key = child["key"]
                tags = {**child["tags"], PARENT_TAG: parent.info.run_id}
                run, created = _find_or_create(client, experiment_id, key, child["name"], child["start_ms"], tags)
                child = _timed_from(child, run.info.start_time)
                end = max(end, child["end_ms"])  # the parent ends after each child as MLflow times it
                n_params, n_points, n_changed = _update(client, run, tags, child["params"], child["metrics"])
                report["runs_created"] += created
                report["params_added"] += n_params
                report["metric_points_added"] += n_points
                report["metric_points_changed"] += n_changed
                report["images_added"] += _log_pictures(client, run.info.run_id, child["pictures"])
                report["artifacts_added"] += _upload(client, run.info.run_id, child["files"])
                if child["finished"]:
                    _terminate(client, run, child["end_ms"])
            key = BENCHMARK_KEY
            if live is None:
                report["artifacts_added"] += _upload(client, parent.info.run_id, _benchmark_files(layout),
                                                     always=True)
                _terminate(client, parent, end)
        except TrackingError:
            raise
        except Exception as exc:
            first = redact((str(exc).strip().splitlines() or [""])[0][:300])
            # MLflow's own message holds the URI as given: chained (so printed with the traceback) only without
            # credentials in it
            raise TrackingError(f"MLflow sync to {redact(uri)} failed at {key} ({type(exc).__name__}: {first}); "
                                "result files untouched, run `python -m gan mlflow-sync` again later"
                                ) from (exc if redact(uri) == uri else None)
    return report


class LiveMirror:
    """A training job's own run in MLflow while it trains (`train(..., on_checkpoint=mirror)`): at a checkpoint, when
    `every_s` seconds have passed since its last sync (the first checkpoint always), `sync(live=...)` adds the curve
    and the previews (the step images) so far; when training ends, `finished()` syncs the finished run. Through
    `sync`, so under its lock (one writer at a time) and from the files. Failing soft: a store or server that is
    down costs a warning in the job's log, never the training; the DAG's sync fills in everything at the end."""

    def __init__(self, results_dir: str, tracking_uri: str | None, experiment: str, dataset: str, objective: str,
                 seed: int, benchmark: Mapping[str, Any] | None = None, every_s: float = 300.0):
        self.results_dir, self.tracking_uri, self.experiment = results_dir, tracking_uri, experiment
        self.identity = {"dataset": dataset, "objective": objective, "seed": int(seed)}
        self.benchmark, self.every_s, self._last = benchmark, every_s, None

    @classmethod
    def for_job(cls, config: Mapping[str, Any], dataset: str, objective: str, seed: int) -> "LiveMirror | None":
        """The mirror of a DAG's training job, from the benchmark's validated config: only where a tracking URI is
        configured (MLFLOW_TRACKING_URI or mlflow.tracking_uri: a server someone watches; the local store is filled
        at the end), the mirror is enabled and mlflow.live_every_s is not 0."""
        from .layout import results_root

        mlflow = config.get("mlflow") or {}
        uri = os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get("tracking_uri")
        every = float(mlflow.get("live_every_s", 0))
        if not (uri and mlflow.get("enabled", True) and every > 0):
            return None
        root = results_root(config["results_dir"], config["experiment"])
        return cls(root, mlflow.get("tracking_uri"), config["experiment"], dataset, objective, seed, config, every)

    def __call__(self, step: int, config: Mapping[str, Any]) -> None:
        now = datetime.datetime.now().timestamp()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        self._sync(live={**self.identity, "config": dict(config)})

    def finished(self) -> None:
        self._sync(runs=[(self.identity["dataset"], self.identity["objective"], self.identity["seed"])])

    def _sync(self, **which) -> None:
        try:
            report = sync(self.results_dir, self.tracking_uri, self.experiment, benchmark=self.benchmark, **which)
            log.info("MLflow %s: %d metric points, %d images added", report["tracking_uri"],
                     report["metric_points_added"], report["images_added"])
        except Exception as err:  # the files are the source of truth: the DAG's sync fills in what this missed
            log.warning("MLflow mirror of this run skipped (%s: %s); the DAG's sync fills it in", type(err).__name__,
                        redact(str(err).strip().splitlines()[0] if str(err).strip() else ""))


# --------------------------------------------------------------------------------------------------
# `python -m gan mlflow-sync` (gan/cli.py registers it through add_parser)
# --------------------------------------------------------------------------------------------------

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("mlflow-sync", help="mirror the result files into MLflow (idempotent; safe to rerun)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--results-dir", default=None, help="the benchmark's results folder (default: the one --configfile "
                   "names, results/{experiment})")
    p.add_argument("--tracking-uri", default=None, help="MLflow URI (env MLFLOW_TRACKING_URI wins; default: the "
                   "benchmark's configured one, else sqlite:///RESULTS/mlflow.db)")
    p.add_argument("--experiment", default=None, help="MLflow experiment (default: the benchmark's, read from "
                   "RESULTS/provenance.json, written at the end of the DAG, else from --configfile)")
    p.add_argument("--configfile", default=None, help="the benchmark's config file (experiment and tracking URI), "
                   "for a sync during a DAG, before provenance.json exists")
    p.set_defaults(func=_cmd_sync)


def _config_of(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark's config: --configfile, else the one provenance.json records, else none."""
    if args.configfile:
        import yaml

        with open(args.configfile, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
        if not isinstance(config, dict):
            raise ValueError(f"--configfile {args.configfile}: not a mapping of settings")
        return config
    provenance = Path(Layout(args.results_dir).provenance)
    return (read_json(provenance).get("config") or {}) if provenance.is_file() else {}


def _cmd_sync(args: argparse.Namespace) -> int:
    if args.results_dir is None:
        if not args.configfile:
            raise ValueError("which results folder? give --results-dir or --configfile (the benchmark's config)")
        from .layout import results_root
        from .schema import with_defaults

        config = _config_of(args)
        args.results_dir = results_root(with_defaults(config)["results_dir"], config.get("experiment"))
    if not Path(args.results_dir).is_dir():
        raise FileNotFoundError(f"no results folder {args.results_dir}")
    config = _config_of(args)
    experiment = args.experiment or config.get("experiment")
    if not experiment:  # a guess would mirror into a stray experiment for the length of the DAG
        raise ValueError(f"which MLflow experiment? {Layout(args.results_dir).provenance} does not exist yet: give "
                         "--configfile (the benchmark's config) or --experiment")
    try:
        report = sync(args.results_dir, args.tracking_uri or (config.get("mlflow") or {}).get("tracking_uri"),
                      experiment, benchmark=config or None)
    except TrackingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"MLflow {report['tracking_uri']} experiment {report['experiment']!r}: {report['runs']} runs, "
          f"{report['runs_created']} created, {report['metric_points_added']} metric points added, "
          f"{report['images_added']} images added, {report['metric_points_changed']} metric values changed on disk "
          "updated")
    for line in ui_hint(report):
        print(f"training runs: {line}")
    return 0


def ui_hint(report: Mapping[str, Any]) -> list[str]:
    """How to open the training runs of a sync's report (synced.json): a server's link, or the command that serves a
    local store and the link then; none for a store the UI cannot open."""
    uri = report["tracking_uri"].replace("://***@", "://")  # the browser asks for the credentials itself
    if not report.get("ui_path"):
        return []
    if uri.startswith(("http://", "https://")):
        return [f"{uri.rstrip('/')}/{report['ui_path']}"]
    if uri.startswith("sqlite:"):
        return [f"`mlflow ui --backend-store-uri {uri}`, then http://127.0.0.1:5000/{report['ui_path']}"]
    return []
