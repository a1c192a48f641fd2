"""MLflow mirror of the benchmark results.

The files under ``results/`` are the source of truth; MLflow is a browsable copy of them.  Two ways
keep the copy current:

* ``MlflowCallback`` logs a training run live (curves while it trains).  It is best effort: if the
  store or server cannot be reached it logs one warning and switches itself off, and training goes on.
* ``sync_run`` / ``sync_results`` (CLI ``mlflow-sync``) read the result files and add whatever MLflow
  lacks: params, tags, every metrics.csv point, every score, the sample grids.  Running it again
  changes nothing.

Each (dataset, objective, seed) has exactly one MLflow run, found again through the tag
``gan_bench.key = "{dataset}/{objective}/seed{seed}"``; a resumed job or a later sync continues it.

Store location
--------------
``resolve_tracking_uri``: env ``MLFLOW_TRACKING_URI`` wins, then the configured URI, else the embedded
store ``sqlite:///<abs results_dir>/mlflow.db`` with artifacts in ``<results_dir>/mlartifacts``
(``<run_id>/artifacts/...`` below it).  Browse it with
``mlflow ui --backend-store-uri sqlite:///$PWD/results/mlflow.db``.

Moving the results folder: MLflow stores artifact locations as absolute paths (a relative location
is made absolute against the working directory when the experiment is created, so relative locations
do not survive either).  The database URI itself is rebuilt from ``results_dir`` on every call, so
after moving ``results/`` only the stored artifact paths need rewriting: ``rewrite_artifact_root(uri,
old_root, new_root)``, or ``mlflow-init --results-dir NEW --rewrite-artifact-root``, which rewrites
from the experiment's recorded location to ``NEW/mlartifacts``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import random
import re
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from gan.io import read_json, write_json
from gan.provenance import config_hash, git_state

log = logging.getLogger(__name__)

KEY_TAG = "gan_bench.key"
BENCHMARK_KEY = "benchmark"
DEFAULT_EXPERIMENT = "gan-bench"
DB_NAME = "mlflow.db"
ARTIFACT_DIRNAME = "mlartifacts"
STATUSES = ("running", "finished", "diverged", "failed")

# MLflow limits (mlflow.utils.validation); kept here so that importing this module stays cheap.
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAMS_TAGS_PER_BATCH = 100
_MAX_PARAM_VAL_LENGTH = 6000
_MAX_TAG_VAL_LENGTH = 8000

T = TypeVar("T")


class TrackingError(RuntimeError):
    """A sync could not bring MLflow up to date (the result files are untouched)."""


# --------------------------------------------------------------------------------------------------
# URIs and the store
# --------------------------------------------------------------------------------------------------

def resolve_tracking_uri(configured: str | None, results_dir: str | os.PathLike) -> str:
    """env MLFLOW_TRACKING_URI, else `configured`, else the embedded sqlite store in results_dir."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    if configured:
        return str(configured)
    return "sqlite:///" + (Path(results_dir).resolve() / DB_NAME).as_posix()


def default_artifact_location(uri: str, results_dir: str | os.PathLike) -> str | None:
    """`<results_dir>/mlartifacts` for a local store; None for a server (it decides, e.g. proxied)."""
    if _is_local_store(uri):
        return (Path(results_dir).resolve() / ARTIFACT_DIRNAME).as_posix()
    return None


def _is_local_store(uri: str) -> bool:
    # A database URI (sqlite, postgresql, ...) is used directly by this process, which then writes the
    # artifacts itself; a server (http) has its own artifact root.
    return not uri.startswith(("http://", "https://", "databricks"))


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///"):].split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def run_key(dataset: str, objective: str, seed: int | str) -> str:
    return f"{dataset}/{objective}/seed{int(seed)}"


def _transient(exc: BaseException) -> bool:
    """Errors worth retrying: SQLite lock contention and half-done schema creation by a neighbour."""
    text = str(exc).lower()
    if "locked" in text:
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return True
    try:
        import sqlalchemy.exc
        if isinstance(exc, sqlalchemy.exc.OperationalError):
            return True
    except ImportError:  # pragma: no cover - sqlalchemy comes with mlflow
        pass
    # The SQLAlchemy store wraps OperationalError into this code; a server answers 503 with it.
    return getattr(exc, "error_code", None) == "TEMPORARILY_UNAVAILABLE"


def _retry(fn: Callable[..., T], *args: Any, attempts: int = 8, **kwargs: Any) -> T:
    """Call fn, retrying transient errors with jittered exponential backoff (0.05 s doubling, max 5 s)."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if attempt == attempts or not _transient(exc):
                raise
            log.debug("MLflow call %s failed (%s); retry %d in %.2fs",
                      getattr(fn, "__name__", fn), exc, attempt, delay)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Exclusive file lock beside a local SQLite store; a no-op for other stores.

    SQLite has no unique constraint on our key tag and MLflow's schema creation is not safe against
    concurrent creators, so the steps "create tables" and "find or create the run for a key" are
    serialised between processes with flock.  The lock file is an empty lock, not a result file,
    hence not written through gan.io.
    """
    path = _sqlite_path(uri)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rely on the retries alone
        fcntl = None
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
        except OSError:  # e.g. a filesystem without locks: the retries still cover most of it
            pass
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)


_READY_STORES: set[str] = set()


def _client(uri: str):
    """An MlflowClient for `uri`; a local SQLite store is created (tables, migrations) under the lock."""
    from mlflow import MlflowClient

    if _sqlite_path(uri) is None or uri in _READY_STORES:
        return MlflowClient(tracking_uri=uri)
    # Constructing the client constructs the SqlAlchemyStore, which creates/migrates the schema:
    # do it under the lock, and retry what a neighbour without the lock (a filesystem without flock,
    # an `mlflow ui` opening the same file) may still cause.
    with _store_lock(uri):
        client = _retry(MlflowClient, tracking_uri=uri)
    _READY_STORES.add(uri)
    return client


@contextlib.contextmanager
def _http_env(uri: str, retries: int, timeout: int) -> Iterator[None]:
    """Short HTTP retries/timeouts for a server URI, unless the user set them; restored afterwards.

    MLflow's defaults (7 retries with backoff, 120 s timeout) make a dead server stall a training job
    for minutes; MLflow reads these variables on every request, so scoping them works.
    """
    if not uri.startswith(("http://", "https://")):
        yield
        return
    added = []
    for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", retries),
                        ("MLFLOW_HTTP_REQUEST_TIMEOUT", timeout)):
        if name not in os.environ:
            os.environ[name] = str(value)
            added.append(name)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _experiment_id(client, experiment_name: str, artifact_location: str | None) -> str:
    """Get or create the experiment.  Without a location, an SQLite store keeps artifacts beside its
    database file (results/mlflow.db -> results/mlartifacts), never in MLflow's default ./mlruns
    of whatever the working directory happens to be."""
    db_path = _sqlite_path(client.tracking_uri)
    if artifact_location is None and db_path is not None:
        artifact_location = (db_path.resolve().parent / ARTIFACT_DIRNAME).as_posix()
    exp = _retry(client.get_experiment_by_name, experiment_name)
    if exp is None:
        from mlflow.exceptions import MlflowException

        try:
            return _retry(client.create_experiment, experiment_name, artifact_location=artifact_location)
        except MlflowException as exc:
            if "already exists" not in str(exc).lower() and exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            exp = _retry(client.get_experiment_by_name, experiment_name)  # a neighbour created it
    if exp.lifecycle_stage == "deleted":
        _retry(client.restore_experiment, exp.experiment_id)
    return exp.experiment_id


def init_store(uri: str, experiment_name: str = DEFAULT_EXPERIMENT,
               artifact_location: str | None = None, rewrite_artifact_root_if_moved: bool = False) -> str:
    """Create the store (schema) and the experiment once; return the experiment id.

    Call it from one job before the training jobs (the DAG's mlflow-init rule), so that many jobs never
    create a fresh SQLite schema at the same time.  It is idempotent.  If the experiment already exists
    with a different artifact location (results/ was moved), it warns, or with
    `rewrite_artifact_root_if_moved` rewrites the stored paths (see rewrite_artifact_root).
    """
    with _http_env(uri, retries=2, timeout=30):
        client = _client(uri)
        with _store_lock(uri):
            exp_id = _experiment_id(client, experiment_name, artifact_location)
        if artifact_location:
            recorded = _retry(client.get_experiment, exp_id).artifact_location
            wanted = artifact_location
            if _strip_file_scheme(recorded).rstrip("/") != _strip_file_scheme(wanted).rstrip("/"):
                if rewrite_artifact_root_if_moved:
                    n = rewrite_artifact_root(uri, recorded, wanted)
                    log.info("rewrote %d artifact paths from %s to %s", n, recorded, wanted)
                else:
                    log.warning("experiment %r keeps its artifacts in %s, not %s (results moved? see "
                                "gan.tracking.rewrite_artifact_root / mlflow-init --rewrite-artifact-root)",
                                experiment_name, recorded, wanted)
    return exp_id


def _strip_file_scheme(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location


def rewrite_artifact_root(uri: str, old_root: str, new_root: str) -> int:
    """Rewrite artifact paths stored in a local SQLite store after moving the artifact folder.

    Replaces the prefix `old_root` by `new_root` in experiments.artifact_location and
    runs.artifact_uri (plain paths and file:// forms).  Returns the number of rows changed.  Stop any
    `mlflow ui`/server on that database first.
    """
    path = _sqlite_path(uri)
    if path is None:
        raise ValueError(f"rewrite_artifact_root works on a local sqlite:/// store, not {uri!r}")
    old, new = _strip_file_scheme(old_root).rstrip("/"), _strip_file_scheme(new_root).rstrip("/")
    changed = 0
    with _store_lock(uri), contextlib.closing(sqlite3.connect(path, timeout=30)) as con, con:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            for prefix_old, prefix_new in ((old, new), ("file://" + old, "file://" + new)):
                cur = con.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                    f"WHERE {column} = ? OR {column} LIKE ? ESCAPE '\\'",
                    (prefix_new, len(prefix_old) + 1, prefix_old, _like_escape(prefix_old) + "/%"))
                changed += cur.rowcount
    return changed


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def write_store_marker(path: str | os.PathLike, uri: str, experiment_id: str,
                       experiment_name: str | None = None) -> None:
    """The output file of the mlflow-init rule: which store/experiment the jobs log to."""
    from importlib import metadata

    try:
        version = metadata.version("mlflow")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = None
    write_json(path, {"tracking_uri": uri, "experiment_id": str(experiment_id),
                      "experiment_name": experiment_name, "mlflow_version": version})


def read_store_marker(path: str | os.PathLike) -> dict:
    return read_json(path)


# --------------------------------------------------------------------------------------------------
# Runs: find-or-create by key, params, tags, metrics, artifacts
# --------------------------------------------------------------------------------------------------

def _key_filter(key: str) -> str:
    if "'" in key or '"' in key:
        raise ValueError(f"run key must not contain quotes: {key!r}")
    return f"tags.`{KEY_TAG}` = '{key}'"  # backticks: the tag name contains a dot


def _canonical(runs: list) -> Any:
    # The oldest run of a key is the one every process agrees on.
    return min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def find_run(client, experiment_id: str, key: str):
    """The active run holding `key`, or None.  Duplicates (should not happen) resolve to the oldest."""
    from mlflow.entities import ViewType

    runs = list(_retry(client.search_runs, [experiment_id], filter_string=_key_filter(key),
                       run_view_type=ViewType.ACTIVE_ONLY, max_results=50))
    if not runs:
        return None
    if len(runs) > 1:
        log.warning("%d MLflow runs carry %s=%s; using the oldest (%s)", len(runs), KEY_TAG, key,
                    _canonical(runs).info.run_id)
    return _canonical(runs)


def get_or_create_run(client, uri: str, experiment_id: str, key: str,
                      tags: Mapping[str, str] | None = None):
    """Return (run, created).  Never creates a second run for a key that already has one."""
    with _store_lock(uri):  # local SQLite: serialises search+create between processes
        run = find_run(client, experiment_id, key)
        if run is not None:
            return run, False
        all_tags = {KEY_TAG: key, **{k: _tag_value(v) for k, v in (tags or {}).items()}}
        run = _retry(client.create_run, experiment_id, tags=all_tags, run_name=key.replace("/", "-"))
        # Servers have no lock: if a neighbour raced us, keep the oldest run and delete ours.
        winner = find_run(client, experiment_id, key)
        if winner is not None and winner.info.run_id != run.info.run_id:
            _retry(client.delete_run, run.info.run_id)
            return winner, False
        return run, True


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys; lists/tuples become JSON strings; everything a str."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if value:
                out.update(flatten_params(value, prefix=name + "."))
            else:
                out[_clean_key(name)] = "{}"
        else:
            out[_clean_key(name)] = _param_value(value)
    return out


def _clean_key(name: str) -> str:
    # MLflow keys allow alphanumerics, _ - . space / ; anything else would be refused.
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(name))


def _param_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        text = json.dumps(list(value), default=str)
    elif isinstance(value, os.PathLike):
        text = os.fspath(value)
    else:
        text = str(value)
    if len(text) > _MAX_PARAM_VAL_LENGTH:
        text = text[: _MAX_PARAM_VAL_LENGTH - 3] + "..."
    return text


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else _param_value(value)
    return text if len(text) <= _MAX_TAG_VAL_LENGTH else text[: _MAX_TAG_VAL_LENGTH - 3] + "..."


@lru_cache(maxsize=8)
def git_info(repo_dir: str | None = None) -> dict[str, str]:
    """{"git_commit": sha|"unknown", "git_dirty": "true"|"false"|"unknown"} of the code checkout, as tags."""
    state = git_state(repo_dir) if repo_dir else git_state()
    return {"git_commit": state["commit"] or "unknown",
            "git_dirty": "unknown" if state["dirty"] is None else str(state["dirty"]).lower()}



def _log_batch_chunks(client, run_id: str, metrics: list = (), params: list = (), tags: list = ()) -> None:
    for i in range(0, len(params), _MAX_PARAMS_TAGS_PER_BATCH):
        _retry(client.log_batch, run_id, params=params[i:i + _MAX_PARAMS_TAGS_PER_BATCH], synchronous=True)
    for i in range(0, len(tags), _MAX_PARAMS_TAGS_PER_BATCH):
        _retry(client.log_batch, run_id, tags=tags[i:i + _MAX_PARAMS_TAGS_PER_BATCH], synchronous=True)
    for i in range(0, len(metrics), _MAX_METRICS_PER_BATCH):
        _retry(client.log_batch, run_id, metrics=metrics[i:i + _MAX_METRICS_PER_BATCH], synchronous=True)


def log_params_safely(client, run_id: str, params: Mapping[str, str]) -> int:
    """Log params MLflow does not have yet; a changed value becomes tag `param_changed.<key>`.

    MLflow params are immutable.  A different value for a logged key (e.g. a resumed job run with an
    edited config) must not crash tracking: the new value is kept as a tag and a warning is logged.
    Returns the number of new params.
    """
    from mlflow.entities import Param, RunTag
    from mlflow.exceptions import MlflowException

    existing = _retry(client.get_run, run_id).data.params
    new, changed = [], []
    for key, value in params.items():
        value = _param_value(value)
        if key not in existing:
            new.append(Param(key, value))
        elif existing[key] != value:
            changed.append(RunTag(f"param_changed.{key}", _tag_value(value)))
    if changed:
        log.warning("run %s: %d params differ from the values MLflow has (%s); kept as "
                    "param_changed.* tags", run_id, len(changed),
                    ", ".join(t.key.split(".", 1)[1] for t in changed[:5]))
    try:
        _log_batch_chunks(client, run_id, params=new, tags=changed)
    except MlflowException as exc:
        if "changing param values" not in str(exc).lower():
            raise
        # A neighbour logged one of them in between: fall back to one by one.
        for param in new:
            with contextlib.suppress(MlflowException):
                _retry(client.log_batch, run_id, params=[param], synchronous=True)
    return len(new)


def set_tags(client, run_id: str, tags: Mapping[str, Any]) -> None:
    from mlflow.entities import RunTag

    _log_batch_chunks(client, run_id, tags=[RunTag(k, _tag_value(v)) for k, v in tags.items()])


def _metric_steps(client, run, keys: Iterable[str]) -> dict[str, set[int]]:
    """(key -> steps already in MLflow) for the given keys; keys the run has never seen cost no call."""
    known = run.data.metrics
    return {key: ({m.step for m in _retry(client.get_metric_history, run.info.run_id, key)}
                  if key in known else set()) for key in keys}


def log_missing_metrics(client, run_id: str, points: Iterable[tuple[str, float, int]],
                        timestamp_ms: int | None = None) -> int:
    """Log the (key, value, step) points whose (key, step) MLflow does not have yet; returns how many.

    Within `points` a repeated (key, step) keeps the last value (the file's final word).
    """
    from mlflow.entities import Metric

    wanted: dict[tuple[str, int], float] = {}
    for key, value, step in points:
        wanted[(key, int(step))] = float(value)
    if not wanted:
        return 0
    run = _retry(client.get_run, run_id)
    have = _metric_steps(client, run, {k for k, _ in wanted})
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    missing = [Metric(key, value, ts, step) for (key, step), value in sorted(wanted.items(), key=_order)
               if step not in have[key]]
    _log_batch_chunks(client, run_id, metrics=missing)
    return len(missing)


def _order(item: tuple[tuple[str, int], float]) -> tuple[int, str]:
    (key, step), _ = item
    return step, key


def upload_artifacts(client, run_id: str, files: Iterable[tuple[Path, str | None]],
                     skip_existing: bool = True) -> int:
    """Upload (local file, artifact dir) pairs; with skip_existing, files already listed with the same
    size are left alone.  Returns the number uploaded."""
    listings: dict[str | None, dict[str, int | None]] = {}
    uploaded = 0
    for local, art_dir in files:
        if skip_existing:
            if art_dir not in listings:
                listings[art_dir] = {Path(f.path).name: f.file_size
                                     for f in _retry(client.list_artifacts, run_id, art_dir) if not f.is_dir}
            if listings[art_dir].get(local.name, -1) == local.stat().st_size:
                continue
        _retry(client.log_artifact, run_id, str(local), artifact_path=art_dir)
        uploaded += 1
    return uploaded


def _number(value: Any) -> float | None:
    """A metric value, or None for empty/absent/non-numeric cells (NaN/inf are kept: divergence)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _row_points(row: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    step = _number(row.get("step"))
    if step is None or math.isnan(step):
        return []
    points = []
    for name, value in row.items():
        number = _number(value)
        if name != "step" and number is not None:
            points.append((f"train/{name}", number, int(step)))
    return points


def _summary_payload(summary: Mapping[str, Any]) -> tuple[dict[str, str], list[tuple[str, float, int]]]:
    """Tags and (key, value, step) metrics that summary.json contributes to its run."""
    status = summary.get("status") or "finished"
    tags: dict[str, str] = {"status": str(status)}
    for name in ("model", "device"):
        if summary.get(name) is not None:
            tags[name] = str(summary[name])
    for pkg, version in (summary.get("versions") or {}).items():
        if version is not None and not isinstance(version, (dict, list)):
            tags[f"version.{_clean_key(pkg)}"] = str(version)
    step = int(summary.get("steps_done") or summary.get("steps") or 0)
    metrics = []
    for name in ("steps_done", "wall_clock_s", "diverged_step"):
        number = _number(summary.get(name))
        if number is not None:
            metrics.append((f"summary/{name}", number, step))
    return tags, metrics


def _git_from_summary(summary: Mapping[str, Any] | None) -> dict[str, str] | None:
    # Provenance recorded at training time beats the checkout present at sync time.
    if not summary:
        return None
    provenance = summary.get("provenance") if isinstance(summary.get("provenance"), dict) else {}
    for source in (summary.get("git"), provenance.get("git")):
        if isinstance(source, dict) and source.get("commit"):
            return {"git_commit": str(source["commit"]), "git_dirty": str(source.get("dirty", "unknown")).lower()}
    versions = summary.get("versions") or {}
    if versions.get("git_commit"):
        return {"git_commit": str(versions["git_commit"]),
                "git_dirty": str(versions.get("git_dirty", "unknown")).lower()}
    return None


# --------------------------------------------------------------------------------------------------
# Live logging during training
# --------------------------------------------------------------------------------------------------

class MlflowCallback:
    """Training callback (see CONTRACTS.md) that mirrors one run into MLflow while it trains.

    Every hook is guarded: the first failure (store unreachable, server down, ...) logs one warning
    and switches the callback off for the rest of the run; `mlflow-sync` fills in later from files.
    Metrics use step = generator iteration, names ``train/<metrics.csv column>``.
    """

    def __init__(self, uri: str, experiment_name: str, dataset: str, objective: str, seed: int,
                 extra_tags: Mapping[str, Any] | None = None, snakemake_rule: str | None = None,
                 artifact_location: str | None = None, http_timeout_s: int = 20,
                 lock_attempts: int = 4) -> None:
        self.uri = uri
        self.experiment_name = experiment_name
        self.dataset, self.objective, self.seed = dataset, objective, int(seed)
        self.key = run_key(dataset, objective, seed)
        self.extra_tags = dict(extra_tags or {})
        self.snakemake_rule = snakemake_rule
        self.artifact_location = artifact_location
        self.http_timeout_s = http_timeout_s
        self.lock_attempts = lock_attempts
        self.enabled = True
        self.run_id: str | None = None
        self._client = None
        self._seen: dict[str, set[int]] = {}

    # -- guard ------------------------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        if not self.enabled:
            return
        try:
            with _http_env(self.uri, retries=0, timeout=self.http_timeout_s):
                fn()
        except Exception as exc:  # tracking never costs a result
            self.enabled = False
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            log.warning("MLflow tracking is off for %s (%s failed: %s: %s); training goes on, "
                        "`mlflow-sync` will fill in MLflow from the result files later",
                        self.key, what, type(exc).__name__, first_line)

    def _retry(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return _retry(fn, *args, attempts=self.lock_attempts, **kwargs)

    # -- hooks ------------------------------------------------------------------------------------
    def on_start(self, config: dict, run_dir: Path, start_step: int) -> None:
        self._guard("on_start", lambda: self._start(config, Path(run_dir), int(start_step)))

    def _start(self, config: dict, run_dir: Path, start_step: int) -> None:
        client = _client(self.uri)
        results_dir = _results_dir_of(run_dir)
        location = self.artifact_location
        if location is None and results_dir is not None:
            location = default_artifact_location(self.uri, results_dir)
        with _store_lock(self.uri):
            exp_id = _experiment_id(client, self.experiment_name, location)
        tags = {"dataset": self.dataset, "objective": self.objective, "seed": str(self.seed),
                "status": "running", "config_hash": config_hash(config), **git_info()}
        tags["run_dir"] = (run_dir.resolve().relative_to(results_dir.resolve()).as_posix()
                           if results_dir else str(run_dir))
        if self.snakemake_rule:
            tags["snakemake_rule"] = self.snakemake_rule
        tags.update({k: _tag_value(v) for k, v in self.extra_tags.items()})
        run, created = get_or_create_run(client, self.uri, exp_id, self.key, tags)
        self.run_id = run.info.run_id
        self._client = client
        if not created:
            set_tags(client, self.run_id, tags)
            if run.info.status != "RUNNING":
                self._retry(client.update_run, self.run_id, status="RUNNING")
            # A resumed job repeats the steps after its last checkpoint: remember what MLflow has so
            # that no (key, step) is logged twice.
            keys = [k for k in run.data.metrics if k.startswith("train/")]
            self._seen = _metric_steps(client, run, keys)
        log_params_safely(client, self.run_id, flatten_params(config))

    def on_log(self, row: dict) -> None:
        self._guard("on_log", lambda: self._log(row))

    def _log(self, row: Mapping[str, Any]) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        metrics = []
        for key, value, step in _row_points(row):
            seen = self._seen.setdefault(key, set())
            if step not in seen:
                metrics.append(Metric(key, value, ts, step))
                seen.add(step)
        if metrics:
            self._retry(self._client.log_batch, self.run_id, metrics=metrics, synchronous=True)

    def on_checkpoint(self, step: int, path: Path) -> None:
        def tag() -> None:
            if self.run_id is not None:
                self._retry(self._client.set_tag, self.run_id, "last_checkpoint_step", str(int(step)))
        self._guard("on_checkpoint", tag)

    def on_end(self, summary: dict) -> None:
        self._guard("on_end", lambda: self._end(summary))

    def _end(self, summary: Mapping[str, Any]) -> None:
        if self.run_id is None:
            return
        tags, points = _summary_payload(summary)
        set_tags(self._client, self.run_id, tags)
        log_missing_metrics(self._client, self.run_id, points)
        self._retry(self._client.set_terminated, self.run_id, status="FINISHED")

    def on_failure(self, error: BaseException | str | None = None) -> None:
        """Not part of the training contract: call it when train() raised, to mark the run failed."""
        def fail() -> None:
            if self.run_id is not None:
                set_tags(self._client, self.run_id,
                         {"status": "failed", "error": str(error or "")[:1000]})
                self._retry(self._client.set_terminated, self.run_id, status="FAILED")
        self._guard("on_failure", fail)


def _results_dir_of(run_dir: Path) -> Path | None:
    """results/ for results/runs/{dataset}/{objective}/seed{seed}, None for any other layout."""
    run_dir = Path(run_dir)
    parents = run_dir.resolve().parents
    if len(parents) > 3 and parents[2].name == "runs":
        return parents[3]
    return None


# --------------------------------------------------------------------------------------------------
# Sync from files
# --------------------------------------------------------------------------------------------------

_SEED_DIR = re.compile(r"^seed(\d+)$")
_STEP_FILE = re.compile(r"^step(\d+)$")


def _read_metrics_csv(path: Path) -> list[tuple[str, float, int]]:
    if not path.exists():
        return []
    points: list[tuple[str, float, int]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            points.extend(_row_points(row))
    return points


def _read_scores(run_dir: Path) -> tuple[list[tuple[str, float, int]], dict[str, str], list[str]]:
    """(metric points, protocol params, 'step N: reason' notes of missing scores) from scores/*.json."""
    points, protocol, missing = [], {}, []
    for path in sorted((run_dir / "scores").glob("step*.json")):
        match = _STEP_FILE.match(path.stem)
        try:
            score = read_json(path)
        except (OSError, ValueError) as exc:  # a half-copied file must not stop the sync
            log.warning("skipping unreadable %s: %s", path, exc)
            continue
        step = int(score.get("step", match.group(1) if match else 0))
        for name, value in (score.get("metrics") or {}).items():
            number = _number(value)
            if number is not None:
                points.append((f"score/{_clean_key(name)}", number, step))
        for name, value in (score.get("protocol") or {}).items():
            protocol[f"protocol.{_clean_key(name)}"] = _param_value(value)
        if score.get("status") == "missing":
            missing.append(f"step {step}: {score.get('reason') or 'missing'}")
    return points, protocol, missing


def sync_run(run_dir: str | os.PathLike, uri: str, experiment_name: str = DEFAULT_EXPERIMENT,
             results_dir: str | os.PathLike | None = None, snakemake_rule: str | None = None,
             artifact_location: str | None = None) -> dict[str, Any]:
    """Bring the MLflow run of one run dir up to date from its files; idempotent.

    Returns {"key", "run_id", "created", "params", "metrics", "artifacts"} (counts of what was added).
    """
    run_dir = Path(run_dir)
    results_dir = Path(results_dir) if results_dir is not None else _results_dir_of(run_dir)
    summary_path = run_dir / "summary.json"
    summary = read_json(summary_path) if summary_path.exists() else None

    seed_match = _SEED_DIR.match(run_dir.name)
    dataset = (summary or {}).get("dataset") or run_dir.parent.parent.name
    objective = (summary or {}).get("objective") or run_dir.parent.name
    seed = (summary or {}).get("seed")
    if seed is None:
        if not seed_match:
            raise ValueError(f"{run_dir} is not a runs/{{dataset}}/{{objective}}/seed{{seed}} folder")
        seed = int(seed_match.group(1))
    key = run_key(dataset, objective, seed)
    if artifact_location is None and results_dir is not None:
        artifact_location = default_artifact_location(uri, results_dir)

    with _http_env(uri, retries=2, timeout=30):
        client = _client(uri)
        with _store_lock(uri):
            exp_id = _experiment_id(client, experiment_name, artifact_location)
        tags: dict[str, str] = {"dataset": dataset, "objective": objective, "seed": str(int(seed))}
        if results_dir is not None:
            with contextlib.suppress(ValueError):
                tags["run_dir"] = run_dir.resolve().relative_to(Path(results_dir).resolve()).as_posix()
        run, created = get_or_create_run(client, uri, exp_id, key, tags)
        run_id = run.info.run_id
        have_tags = run.data.tags

        points = _read_metrics_csv(run_dir / "metrics.csv")
        score_points, protocol, missing = _read_scores(run_dir)
        points += score_points
        params: dict[str, str] = {}
        if summary is not None:
            summary_tags, summary_points = _summary_payload(summary)
            tags.update(summary_tags)
            points += summary_points
            config = summary.get("config") or {}
            params.update(flatten_params(config))
            tags["config_hash"] = str(summary.get("config_hash") or config_hash(config))
        elif "status" not in have_tags:
            tags["status"] = "running"  # no summary yet; never overwrite a callback's "failed"
        params.update(protocol)
        if missing:
            tags["scores.missing"] = "; ".join(missing)
        if snakemake_rule and "snakemake_rule" not in have_tags:
            tags["snakemake_rule"] = snakemake_rule
        if "git_commit" not in have_tags:
            recorded = _git_from_summary(summary)
            tags.update(recorded or {**git_info(), "git_source": "sync"})
        changed_tags = {k: v for k, v in tags.items() if have_tags.get(k) != _tag_value(v)}

        n_params = log_params_safely(client, run_id, params)
        if changed_tags:
            set_tags(client, run_id, changed_tags)
        n_metrics = log_missing_metrics(client, run_id, points)

        files: list[tuple[Path, str | None]] = [(p, "samples")
                                                for p in sorted((run_dir / "samples").glob("*.png"))]
        if summary is not None:
            files.append((summary_path, None))
        n_artifacts = upload_artifacts(client, run_id, files)

        if summary is not None and run.info.status != "FINISHED":
            _retry(client.set_terminated, run_id, status="FINISHED")
    return {"key": key, "run_id": run_id, "created": created, "params": n_params,
            "metrics": n_metrics, "artifacts": n_artifacts}


def find_run_dirs(results_dir: str | os.PathLike) -> list[Path]:
    """Every results/runs/{dataset}/{objective}/seed{seed} folder, sorted."""
    runs = Path(results_dir) / "runs"
    return sorted(p for p in runs.glob("*/*/seed*") if p.is_dir() and _SEED_DIR.match(p.name))


def sync_results(results_dir: str | os.PathLike, uri: str, experiment_name: str = DEFAULT_EXPERIMENT,
                 run_dirs: Iterable[str | os.PathLike] | None = None,
                 snakemake_rule: str | None = None) -> list[dict[str, Any]]:
    """sync_run for every run dir (or the given ones); tries them all, then raises TrackingError
    naming the ones that failed."""
    results_dir = Path(results_dir)
    artifact_location = default_artifact_location(uri, results_dir)
    try:  # one reachability check, not one timeout per run dir
        init_store(uri, experiment_name, artifact_location)
    except Exception as exc:
        raise TrackingError(f"MLflow store {uri} not usable ({type(exc).__name__}: "
                            f"{(str(exc).splitlines() or [''])[0][:300]}); result files untouched") from exc
    reports, failures = [], []
    for run_dir in (find_run_dirs(results_dir) if run_dirs is None else [Path(p) for p in run_dirs]):
        try:
            reports.append(sync_run(run_dir, uri, experiment_name, results_dir=results_dir,
                                    snakemake_rule=snakemake_rule, artifact_location=artifact_location))
        except Exception as exc:
            log.error("MLflow sync of %s failed: %s: %s", run_dir, type(exc).__name__, exc)
            failures.append(f"{run_dir}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if failures:
        raise TrackingError(f"{len(failures)} of {len(failures) + len(reports)} run dirs not synced "
                            f"(result files untouched):\n  " + "\n  ".join(failures))
    return reports


def benchmark_artifact_paths(results_dir: str | os.PathLike) -> list[Path]:
    """The final outputs of the benchmark that exist: tables/, figures/, provenance.json."""
    results_dir = Path(results_dir)
    candidates = [results_dir / "tables", results_dir / "figures", results_dir / "provenance.json"]
    return [p for p in candidates if p.exists()]


def log_benchmark_artifacts(results_dir: str | os.PathLike, uri: str,
                            experiment_name: str = DEFAULT_EXPERIMENT,
                            paths: Iterable[str | os.PathLike] | None = None) -> str:
    """Upload final figures/tables (files or folders) to the benchmark-level run (key "benchmark").

    Artifact paths mirror the paths relative to results_dir (results/figures/x.png -> figures/x.png);
    paths outside results_dir keep only their name.  Files are always re-uploaded (a regenerated figure
    may keep its size), which overwrites rather than duplicates.  Returns the run id.
    """
    results_dir = Path(results_dir)
    paths = benchmark_artifact_paths(results_dir) if paths is None else [Path(p) for p in paths]
    files: list[tuple[Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            base = _relative_or_name(path, results_dir)
            for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                sub = file.parent.relative_to(path).as_posix()
                files.append((file, base if sub == "." else f"{base}/{sub}"))
        elif path.is_file():
            parent = _relative_or_name(path, results_dir, parent=True)
            files.append((path, parent))
        else:
            log.warning("benchmark artifact %s does not exist; skipped", path)
    with _http_env(uri, retries=2, timeout=30):
        client = _client(uri)
        with _store_lock(uri):
            exp_id = _experiment_id(client, experiment_name, default_artifact_location(uri, results_dir))
        run, _ = get_or_create_run(client, uri, exp_id, BENCHMARK_KEY, {"status": "finished"})
        upload_artifacts(client, run.info.run_id, files, skip_existing=False)
        if run.info.status != "FINISHED":
            _retry(client.set_terminated, run.info.run_id, status="FINISHED")
    return run.info.run_id


def _relative_or_name(path: Path, root: Path, parent: bool = False) -> str | None:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None if parent else path.name
    if parent:
        return None if rel.parent.as_posix() == "." else rel.parent.as_posix()
    return rel.as_posix()


# --------------------------------------------------------------------------------------------------
# CLI: `python -m gan mlflow-init|mlflow-sync` (wired by gan/cli.py) or `python -m gan.tracking ...`
# --------------------------------------------------------------------------------------------------

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `mlflow-init` and `mlflow-sync`; each sets `func(args) -> int` (exit code)."""
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--results-dir", default="results", help="results folder (default: results)")
        p.add_argument("--tracking-uri", default=None,
                       help="MLflow URI (env MLFLOW_TRACKING_URI wins; default sqlite:///<results>/mlflow.db)")
        p.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                       help=f"MLflow experiment name (default: {DEFAULT_EXPERIMENT})")

    p_init = subparsers.add_parser("mlflow-init", help="create the MLflow store and experiment once")
    common(p_init)
    p_init.add_argument("--marker", default=None,
                        help="marker file to write (JSON: uri, experiment id), e.g. for Snakemake")
    p_init.add_argument("--rewrite-artifact-root", action="store_true",
                        help="after moving results/: rewrite stored artifact paths to <results>/mlartifacts")
    p_init.set_defaults(func=_cmd_init)

    p_sync = subparsers.add_parser("mlflow-sync", help="bring MLflow up to date from the result files")
    common(p_sync)
    p_sync.add_argument("--run-dir", action="append", default=None,
                        help="sync only this run dir (repeatable; default: every results/runs/*/*/seed*)")
    p_sync.add_argument("--benchmark", action="store_true",
                        help="also upload results/{tables,figures,provenance.json} to the 'benchmark' run")
    p_sync.add_argument("--artifact", action="append", default=[],
                        help="extra file/folder for the 'benchmark' run (repeatable)")
    p_sync.add_argument("--rule", default=None, help="snakemake rule name recorded as a tag")
    p_sync.add_argument("--marker", default=None, help="write this file (JSON summary) when done")
    p_sync.set_defaults(func=_cmd_sync)


def _cmd_init(args: argparse.Namespace) -> int:
    uri = resolve_tracking_uri(args.tracking_uri, args.results_dir)
    exp_id = init_store(uri, args.experiment, default_artifact_location(uri, args.results_dir),
                        rewrite_artifact_root_if_moved=args.rewrite_artifact_root)
    if args.marker:
        write_store_marker(args.marker, uri, exp_id, args.experiment)
    print(f"MLflow store {uri}: experiment {args.experiment!r} id {exp_id}")
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    uri = resolve_tracking_uri(args.tracking_uri, args.results_dir)
    try:
        reports = sync_results(args.results_dir, uri, args.experiment, run_dirs=args.run_dir,
                               snakemake_rule=args.rule)
        if args.benchmark or args.artifact:
            paths = (benchmark_artifact_paths(args.results_dir) if args.benchmark else []) + \
                    [Path(p) for p in args.artifact]
            log_benchmark_artifacts(args.results_dir, uri, args.experiment, paths)
    except TrackingError as exc:
        print(f"mlflow-sync: {exc}")
        return 1
    except Exception:  # e.g. the benchmark upload; say plainly that the files are fine
        log.exception("mlflow-sync failed (result files untouched; run it again later)")
        return 1
    added = sum(r["metrics"] for r in reports)
    print(f"MLflow sync to {uri}: {len(reports)} runs, {added} metric points added, "
          f"{sum(r['created'] for r in reports)} runs created")
    if args.marker:
        write_json(args.marker, {"tracking_uri": uri, "experiment_name": args.experiment, "runs": reports})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.tracking", description=__doc__.splitlines()[0])
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
