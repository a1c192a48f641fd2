"""MLflow tracking: concurrency on one SQLite store, idempotent sync from files, dead and live servers."""
from __future__ import annotations

import csv
import io as _io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402

from gan import io as gio  # noqa: E402
from gan import tracking  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from mlflow_server import free_port, running_mlflow_server  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "gan-bench-test"
CSV_COLUMNS = ["step", "time_s", "loss_d", "loss_g", "wasserstein", "gp",
               "grad_norm_d", "grad_norm_g", "d_real", "d_fake"]
CONFIG = {"dataset": "gaussians8", "objective": "wgan-gp", "lr": 1e-4, "betas": [0.5, 0.9],
          "model": {"name": "mlp", "hidden": 64}, "steps": 40}


@pytest.fixture(autouse=True)
def _no_env_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """An empty store with MLflow's schema, made once: creating the schema takes seconds."""
    root = tmp_path_factory.mktemp("template")
    tracking._client(tracking.resolve_tracking_uri(None, root))
    return root / "mlflow.db"


@pytest.fixture
def store(tmp_path, template_db) -> str:
    """URI of the embedded store of tmp_path/results (a copy of the template: same as a fresh one)."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copyfile(template_db, results / "mlflow.db")
    return sqlite_uri(tmp_path)


def sqlite_uri(tmp_path: Path) -> str:
    return tracking.resolve_tracking_uri(None, tmp_path / "results")


# ---- fake result files (CONTRACTS.md layout) ---------------------------------------------------

def tiny_png() -> bytes:
    from PIL import Image

    buf = _io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def metric_rows(objective: str, steps: range) -> list[dict]:
    rows = []
    for s in steps:
        wasserstein = "" if objective == "gan" else 0.5 / s
        gp = 0.01 * s if objective == "wgan-gp" else ""
        rows.append({"step": s, "time_s": 0.1 * s, "loss_d": 1.0 / s, "loss_g": -1.0 / s,
                     "wasserstein": wasserstein, "gp": gp, "grad_norm_d": 2.0, "grad_norm_g": 3.0,
                     "d_real": 0.6, "d_fake": 0.4})
    return rows


def make_run_dir(results: Path, dataset="gaussians8", objective="wgan-gp", seed=0,
                 steps=range(10, 210, 10), summary=True, status="finished") -> Path:
    run_dir = results / "runs" / dataset / objective / f"seed{seed}"
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(metric_rows(objective, steps))
    gio.write_text(run_dir / "metrics.csv", buf.getvalue())
    last = steps[-1]
    protocol = {"n_gen": 1000, "n_real": 1000, "split": "test", "mode": "exact", "extractor": "none",
                "seed": 0}
    gio.write_json(run_dir / "scores" / "step0000100.json",
                   {"dataset": dataset, "objective": objective, "seed": seed, "step": 100, "status": "ok",
                    "reason": None, "metrics": {"w1": 0.25, "mmd": 0.01}, "protocol": protocol})
    gio.write_json(run_dir / "scores" / f"step{last:07d}.json",
                   {"dataset": dataset, "objective": objective, "seed": seed, "step": last,
                    "status": "missing", "reason": "diverged at step 150", "metrics": {},
                    "protocol": protocol})
    gio.write_bytes(run_dir / "samples" / "step0000100.png", tiny_png())
    if summary:
        gio.write_json(run_dir / "summary.json", {
            "status": status, "steps": last, "steps_done": last, "diverged_step": None,
            "wall_clock_s": 12.5, "seed": seed, "dataset": dataset, "objective": objective,
            "model": "mlp", "config": dict(CONFIG, dataset=dataset, objective=objective, seed=seed),
            "versions": {"torch": "2.14.1", "python": "3.11.7"}, "device": "cpu:x86_64",
            "checkpoints": {"100": "checkpoints/step0000100.pt"}})
    return run_dir


def runs_for(client: MlflowClient, key: str) -> list:
    exp = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`gan_bench.key` = '{key}'",
                              run_view_type=ViewType.ACTIVE_ONLY)


def histories(client: MlflowClient, run) -> dict[str, list[int]]:
    return {k: sorted(m.step for m in client.get_metric_history(run.info.run_id, k))
            for k in run.data.metrics}


def expected_points(objective: str, steps: range) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in metric_rows(objective, steps):
        for k, v in row.items():
            if k != "step" and v != "":
                out.setdefault(f"train/{k}", []).append(row["step"])
    return out


# ---- unit bits -----------------------------------------------------------------------------------

def test_resolve_tracking_uri(tmp_path, monkeypatch):
    assert tracking.resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.resolve_tracking_uri("http://x:5000", tmp_path) == "http://x:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert tracking.resolve_tracking_uri("http://x:5000", tmp_path) == "http://env:1"
    assert tracking.default_artifact_location("http://env:1", tmp_path) is None
    assert tracking.default_artifact_location("sqlite:///a.db", tmp_path) == str(tmp_path.resolve() / "mlartifacts")


def test_flatten_params():
    flat = tracking.flatten_params(CONFIG)
    assert flat["model.hidden"] == "64" and flat["betas"] == "[0.5, 0.9]" and flat["lr"] == "0.0001"
    assert tracking.flatten_params({"a": {}, "b": None}) == {"a": "{}", "b": "None"}


def test_retry_retries_lock_errors_only():
    calls = []

    def fails(times: int, exc: Exception):
        def fn():
            calls.append(1)
            if len(calls) <= times:
                raise exc
            return "ok"
        return fn

    assert tracking._retry(fails(2, sqlite3.OperationalError("database is locked"))) == "ok"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError):  # not transient: no retry
        tracking._retry(fails(1, ValueError("bad value")))
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(sqlite3.OperationalError):  # gives up after `attempts`
        tracking._retry(fails(9, sqlite3.OperationalError("database is locked")), attempts=3)
    assert len(calls) == 3


# ---- concurrency -----------------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from gan import tracking
    uri, experiment, idx, results, sync_dir = sys.argv[1:6]
    idx, results, sync_dir = int(idx), Path(results), Path(sync_dir)
    tracking._client(uri)  # import MLflow and open the store before the start line
    (sync_dir / f"ready{idx}").touch()
    while not (sync_dir / "go").exists():  # start together: imports take seconds and would stagger us
        time.sleep(0.02)
    cb = tracking.MlflowCallback(uri, experiment, "toy", "wgan", idx, snakemake_rule="train")
    run_dir = results / "runs" / "toy" / "wgan" / f"seed{idx}"
    cb.on_start({"lr": 0.001, "seed": idx}, run_dir, 0)
    for step in range(1, 31):
        cb.on_log({"step": step, "loss_d": 1.0 / step, "loss_g": float(idx), "wasserstein": 0.1 * step,
                   "gp": None})
        if step % 10 == 0:
            cb.on_checkpoint(step, run_dir / "checkpoints" / f"step{step:07d}.pt")
    cb.on_end({"status": "finished", "steps_done": 30, "wall_clock_s": 1.0})
    sys.exit(0 if cb.enabled else 3)
""")


@pytest.mark.slow  # 8 interpreters importing MLflow: 20-60 s on 2 shared cores
@pytest.mark.parametrize("init_first", [True, False], ids=["after-init", "no-init"])
def test_concurrent_processes_one_fresh_sqlite_store(tmp_path, init_first):
    """8 jobs log at once into one new SQLite store: as the DAG does it (init rule first), and
    without the init rule (all 8 create the schema at once: the known migration trap)."""
    results = tmp_path / "results"
    uri = sqlite_uri(tmp_path)
    if init_first:
        tracking.init_store(uri, EXPERIMENT, tracking.default_artifact_location(uri, results))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sync_dir = tmp_path / "sync"
    sync_dir.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, uri, EXPERIMENT, str(i), str(results), str(sync_dir)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(8)]
    deadline = time.monotonic() + 240
    while len(list(sync_dir.glob("ready*"))) < 8 and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.1)
    (sync_dir / "go").touch()
    outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
        assert "tracking is off" not in out, out

    client = MlflowClient(uri)
    exp_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([exp_id], run_view_type=ViewType.ALL, max_results=100)
    assert len(runs) == 8
    assert sorted(r.data.tags["gan_bench.key"] for r in runs) == sorted(f"toy/wgan/seed{i}" for i in range(8))
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "finished"
        assert run.data.params == {"lr": "0.001", "seed": run.data.tags["seed"]}
        hist = histories(client, run)
        for key in ("train/loss_d", "train/loss_g", "train/wasserstein"):
            assert hist[key] == list(range(1, 31)), key
        assert "train/gp" not in hist
        assert run.info.artifact_uri.startswith(str(results.resolve() / "mlartifacts"))


# ---- sync from files ------------------------------------------------------------------------------

def test_sync_twice_is_idempotent(tmp_path, store):
    results = tmp_path / "results"
    uri = sqlite_uri(tmp_path)
    make_run_dir(results, objective="wgan-gp", seed=0)
    make_run_dir(results, objective="gan", seed=1)
    make_run_dir(results, objective="wgan", seed=2, summary=False, steps=range(10, 60, 10))

    first = tracking.sync_results(results, uri, EXPERIMENT)
    assert [r["created"] for r in first] == [True, True, True]
    client = MlflowClient(uri)
    snapshot = {}
    for objective, seed, steps in (("gan", 1, range(10, 210, 10)), ("wgan", 2, range(10, 60, 10)),
                                   ("wgan-gp", 0, range(10, 210, 10))):
        (run,) = runs_for(client, f"gaussians8/{objective}/seed{seed}")
        hist = histories(client, run)
        for key, want in expected_points(objective, steps).items():
            assert hist[key] == want, key
        assert hist["score/w1"] == [100] and hist["score/mmd"] == [100]
        assert client.get_metric_history(run.info.run_id, "score/w1")[0].value == 0.25
        assert run.data.params["protocol.n_gen"] == "1000"
        assert "diverged at step 150" in run.data.tags["scores.missing"]
        assert [f.path for f in client.list_artifacts(run.info.run_id, "samples")] == ["samples/step0000100.png"]
        assert run.data.tags["dataset"] == "gaussians8" and run.data.tags["seed"] == str(seed)
        assert run.data.tags["run_dir"] == f"runs/gaussians8/{objective}/seed{seed}"
        assert run.data.tags["git_commit"]
        if seed == 2:  # no summary.json yet
            assert run.data.tags["status"] == "running" and run.info.status == "RUNNING"
        else:
            assert run.data.tags["status"] == "finished" and run.info.status == "FINISHED"
            assert run.data.params["model.hidden"] == "64" and run.data.params["betas"] == "[0.5, 0.9]"
            assert run.data.tags["config_hash"] == tracking.config_hash(
                dict(CONFIG, dataset="gaussians8", objective=objective, seed=seed))
            assert hist["summary/wall_clock_s"] == [200]
        if objective == "gan":
            assert "train/wasserstein" not in hist and "train/gp" not in hist
        snapshot[run.info.run_id] = (hist, run.data.params, run.data.tags)

    second = tracking.sync_results(results, uri, EXPERIMENT)
    assert [(r["created"], r["metrics"], r["params"], r["artifacts"]) for r in second] == [(False, 0, 0, 0)] * 3
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id],
                              run_view_type=ViewType.ALL)
    assert len(runs) == 3
    for run in runs:
        hist, params, tags = snapshot[run.info.run_id]
        assert histories(client, run) == hist and run.data.params == params and run.data.tags == tags

    # the unfinished run finishes: the next sync adds its new rows, summary, status
    make_run_dir(results, objective="wgan", seed=2, steps=range(10, 110, 10))
    (report,) = tracking.sync_results(results, uri, EXPERIMENT,
                                      run_dirs=[results / "runs/gaussians8/wgan/seed2"])
    assert report["created"] is False
    (run,) = runs_for(client, "gaussians8/wgan/seed2")
    assert histories(client, run)["train/loss_d"] == list(range(10, 110, 10))
    assert run.data.tags["status"] == "finished" and run.info.status == "FINISHED"


def test_changed_param_value_does_not_crash(tmp_path, store, caplog):
    results = tmp_path / "results"
    uri = sqlite_uri(tmp_path)
    run_dir = make_run_dir(results)
    tracking.sync_run(run_dir, uri, EXPERIMENT)
    summary = gio.read_json(run_dir / "summary.json")
    summary["config"]["lr"] = 0.5
    gio.write_json(run_dir / "summary.json", summary)
    with caplog.at_level(logging.WARNING, logger="gan.tracking"):
        report = tracking.sync_run(run_dir, uri, EXPERIMENT)
    assert report["created"] is False
    (run,) = runs_for(MlflowClient(uri), "gaussians8/wgan-gp/seed0")
    assert run.data.params["lr"] == "0.0001" and run.data.tags["param_changed.lr"] == "0.5"
    assert "differ" in caplog.text


def test_resumed_callback_continues_the_same_run(tmp_path, store):
    results = tmp_path / "results"
    uri = sqlite_uri(tmp_path)
    run_dir = results / "runs" / "toy" / "gan" / "seed3"
    first = tracking.MlflowCallback(uri, EXPERIMENT, "toy", "gan", 3)
    first.on_start(CONFIG, run_dir, 0)
    for row in metric_rows("gan", range(1, 11)):
        first.on_log(row)
    # killed here; the retried job resumes from the checkpoint at step 5 and repeats steps 6..10
    second = tracking.MlflowCallback(uri, EXPERIMENT, "toy", "gan", 3, snakemake_rule="train")
    second.on_start(CONFIG, run_dir, 5)
    for row in metric_rows("gan", range(6, 16)):
        second.on_log(row)
    second.on_end({"status": "diverged", "steps_done": 15, "diverged_step": 15, "wall_clock_s": 3.0})
    assert first.enabled and second.enabled and first.run_id == second.run_id
    client = MlflowClient(uri)
    (run,) = runs_for(client, "toy/gan/seed3")
    assert histories(client, run)["train/loss_d"] == list(range(1, 16))
    assert run.data.tags["status"] == "diverged" and run.data.tags["snakemake_rule"] == "train"
    assert run.data.tags["run_dir"] == "runs/toy/gan/seed3"


# ---- unreachable server ---------------------------------------------------------------------------

def test_unreachable_server_costs_nothing_then_sync_fills_in(tmp_path, store, caplog):
    results = tmp_path / "results"
    run_dir = make_run_dir(results, objective="wgan", seed=4)
    dead = f"http://127.0.0.1:{free_port()}"
    cb = tracking.MlflowCallback(dead, EXPERIMENT, "gaussians8", "wgan", 4)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="gan.tracking"):
        cb.on_start(CONFIG, run_dir, 0)
        for row in metric_rows("wgan", range(10, 210, 10)):
            cb.on_log(row)
        cb.on_checkpoint(100, run_dir / "checkpoints" / "step0000100.pt")
        cb.on_end(gio.read_json(run_dir / "summary.json"))
    assert time.monotonic() - t0 < 10
    assert not cb.enabled
    warnings = [r for r in caplog.records if r.name == "gan.tracking" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "tracking is off" in warnings[0].getMessage()
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # scoped, not leaked
    with pytest.raises(tracking.TrackingError, match="not usable"):  # a sync says so, quickly
        tracking.sync_results(results, dead, EXPERIMENT)

    tracking.sync_results(results, store, EXPERIMENT)
    client = MlflowClient(store)
    (run,) = runs_for(client, "gaussians8/wgan/seed4")
    hist = histories(client, run)
    for key, want in expected_points("wgan", range(10, 210, 10)).items():
        assert hist[key] == want
    assert hist["score/w1"] == [100]


# ---- benchmark run, CLI, relocation --------------------------------------------------------------

def test_benchmark_artifacts_and_cli(tmp_path, store):
    results = tmp_path / "results"
    make_run_dir(results)
    gio.write_bytes(results / "figures" / "curves.png", tiny_png())
    gio.write_text(results / "tables" / "scores.csv", "objective,fid\nwgan,1.0\n")
    gio.write_json(results / "provenance.json", {"git": "x"})
    marker = results / "mlflow_store.json"
    assert tracking.main(["mlflow-init", "--results-dir", str(results), "--experiment", EXPERIMENT,
                          "--marker", str(marker)]) == 0
    info = json.loads(marker.read_text())
    uri = info["tracking_uri"]
    assert uri == sqlite_uri(tmp_path) and info["experiment_id"]
    for _ in range(2):
        assert tracking.main(["mlflow-sync", "--results-dir", str(results), "--experiment", EXPERIMENT,
                              "--benchmark", "--rule", "mlflow_sync"]) == 0
    client = MlflowClient(uri)
    (bench,) = runs_for(client, "benchmark")
    names = {f.path for f in client.list_artifacts(bench.info.run_id)}
    assert names == {"figures", "tables", "provenance.json"}
    assert [f.path for f in client.list_artifacts(bench.info.run_id, "figures")] == ["figures/curves.png"]
    assert len(client.search_runs([info["experiment_id"]], run_view_type=ViewType.ALL)) == 2
    (run,) = runs_for(client, "gaussians8/wgan-gp/seed0")
    assert run.data.tags["snakemake_rule"] == "mlflow_sync"


def test_moving_results_and_rewriting_artifact_root(tmp_path, template_db):
    old = tmp_path / "old" / "results"
    old.mkdir(parents=True)
    shutil.copyfile(template_db, old / "mlflow.db")
    run_dir = make_run_dir(old)
    uri_old = tracking.resolve_tracking_uri(None, old)
    tracking.sync_results(old, uri_old, EXPERIMENT)
    new = tmp_path / "new" / "results"
    new.parent.mkdir()
    old.rename(new)
    uri_new = tracking.resolve_tracking_uri(None, new)
    tracking.init_store(uri_new, EXPERIMENT, tracking.default_artifact_location(uri_new, new),
                        rewrite_artifact_root_if_moved=True)
    client = MlflowClient(uri_new)
    (run,) = runs_for(client, "gaussians8/wgan-gp/seed0")
    assert run.info.artifact_uri.startswith(str(new.resolve() / "mlartifacts"))
    local = client.download_artifacts(run.info.run_id, "samples/step0000100.png", str(tmp_path))
    assert Path(local).read_bytes() == (new / run_dir.relative_to(old) / "samples/step0000100.png").read_bytes()


# ---- a real server -------------------------------------------------------------------------------

@pytest.mark.slow  # starting `mlflow server` alone takes 10-35 s here
def test_callback_and_sync_against_a_real_server(tmp_path):
    results = tmp_path / "results"
    run_dir = make_run_dir(results, objective="wgan-gp", seed=7)
    with running_mlflow_server(tmp_path) as uri:
        exp_id = tracking.init_store(uri, EXPERIMENT)
        cb = tracking.MlflowCallback(uri, EXPERIMENT, "gaussians8", "wgan-gp", 7, snakemake_rule="train")
        cb.on_start(CONFIG, run_dir, 0)
        for row in metric_rows("wgan-gp", range(10, 110, 10)):  # live only up to step 100
            cb.on_log(row)
        assert cb.enabled
        cb.on_end(gio.read_json(run_dir / "summary.json"))
        tracking.sync_results(results, uri, EXPERIMENT)
        tracking.sync_results(results, uri, EXPERIMENT)

        client = MlflowClient(uri)
        runs = client.search_runs([exp_id], run_view_type=ViewType.ALL)
        assert len(runs) == 1
        run = runs[0]
        hist = histories(client, run)
        for key, want in expected_points("wgan-gp", range(10, 210, 10)).items():
            assert hist[key] == want, key
        assert hist["score/w1"] == [100]
        assert run.data.params["lr"] == "0.0001" and run.data.params["protocol.split"] == "test"
        assert run.data.tags["status"] == "finished" and run.data.tags["snakemake_rule"] == "train"
        assert [f.path for f in client.list_artifacts(run.info.run_id, "samples")] == ["samples/step0000100.png"]
