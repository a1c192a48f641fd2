"""The MLflow mirror of the Snakemake DAG, through the `snakemake` command users type, on a small config.

1. live logging to a real `mlflow server`: one run per (dataset, objective, seed), params, curves, scores,
   status and the benchmark-level artifacts;
2. a training job SIGKILLed mid-run and the DAG rerun: still exactly one MLflow run for that key, continued,
   with no duplicated metric steps;
3. the server down during the whole DAG: every result file is still produced and only `mlflow_sync` fails;
   with the server back, the same command reruns only `mlflow_sync` and fills MLflow in, and forcing the sync
   again adds nothing.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
psutil = pytest.importorskip("psutil")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402

from mlflow_server import free_port, running_mlflow_server  # noqa: E402
from workflow_helpers import copy_workflow, job_counts, smoke_config, snakemake, write_config  # noqa: E402

DATASET = "8gaussians"
KEY_TAG = "gan_bench.key"
EXPERIMENT = "gan-bench-smoke-mlflow"
TIMEOUT = 600  # seconds for any one snakemake invocation


# ---- config and files -------------------------------------------------------------------------------

def small_config(objectives, seeds=(0,), steps=60, checkpoints=(30, 60), resume_every=10) -> dict:
    """config/smoke.yaml restricted to 8 gaussians, the given objectives/seeds and a short schedule."""
    config = smoke_config(seeds=list(seeds), objectives=list(objectives), experiment=EXPERIMENT)
    toy = config["datasets"][DATASET]
    toy["train"].update(steps=steps, log_every=10, resume_every=resume_every)
    toy["checkpoint_steps"] = list(checkpoints)
    toy["samples"] = toy["n_real"] = 500
    config["datasets"] = {DATASET: toy}
    return config


def setup_workdir(tmp_path: Path, config: dict) -> tuple[Path, tuple[str, ...]]:
    workdir = copy_workflow(tmp_path / "wf")
    path = write_config(workdir, "mlflow_test.yaml", config)
    return workdir, ("--cores", "2", "--configfile", str(path))


def run_dirs(workdir: Path, config: dict) -> dict[str, Path]:
    return {f"{DATASET}/{o}/seed{s}": workdir / f"results/runs/{DATASET}/{o}/seed{s}"
            for o in config["objectives"] for s in config["seeds"]}


def read_metrics_csv(path: Path) -> dict[str, dict[int, float]]:
    """metrics.csv as {"train/<column>": {step: value}}, empty cells (not applicable) left out."""
    series: dict[str, dict[int, float]] = defaultdict(dict)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, f"{path} has no rows"
    steps = [int(r["step"]) for r in rows]
    assert len(steps) == len(set(steps)), f"{path} repeats steps: {steps}"
    for row in rows:
        for column, value in row.items():
            if column != "step" and value.strip():
                series[f"train/{column}"][int(row["step"])] = float(value)
    return dict(series)


def read_scores(run_dir: Path) -> dict[str, dict[int, float]]:
    """scores/step*.json as {"score/<metric>": {step: value}}."""
    series: dict[str, dict[int, float]] = defaultdict(dict)
    files = sorted((run_dir / "scores").glob("step*.json"))
    assert files, f"no scores in {run_dir}"
    for path in files:
        score = json.loads(path.read_text())
        for name, value in score["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                series[f"score/{name}"][int(score["step"])] = float(value)
    return dict(series)


def error_rules(output: str) -> set[str]:
    return set(re.findall(r"Error in rule (\w+)", output))


def assert_planned_only(proc: subprocess.CompletedProcess, rules: set[str]) -> None:
    counts = job_counts(proc.stdout + "\n" + proc.stderr)
    assert counts, f"no job stats in the output:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert set(counts) - {"all"} == rules, counts


# ---- MLflow read-back -------------------------------------------------------------------------------

class Mirror:
    """What MLflow holds for the experiment, read with the public client."""

    def __init__(self, uri: str, experiment: str = EXPERIMENT):
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        assert exp is not None, f"experiment {experiment!r} not in {uri}"
        self.experiment_id = exp.experiment_id

    def runs_by_key(self) -> dict[str, list]:
        runs = self.client.search_runs([self.experiment_id], run_view_type=ViewType.ACTIVE_ONLY,
                                       max_results=1000)
        by_key: dict[str, list] = defaultdict(list)
        for run in runs:
            by_key[run.data.tags.get(KEY_TAG)].append(run)
        return dict(by_key)

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(run_id, key)]

    def history_lengths(self) -> dict[tuple[str, str], int]:
        lengths = {}
        for runs in self.runs_by_key().values():
            for run in runs:
                for key in run.data.metrics:
                    lengths[(run.info.run_id, key)] = len(self.history(run.info.run_id, key))
        return lengths

    def artifact_names(self, run_id: str, path: str) -> set[str]:
        return {Path(f.path).name for f in self.client.list_artifacts(run_id, path) if not f.is_dir}


def assert_no_duplicate_steps(mirror: Mirror, run) -> None:
    for key in run.data.metrics:
        steps = [step for step, _ in mirror.history(run.info.run_id, key)]
        assert len(steps) == len(set(steps)), f"{key}: duplicate steps {sorted(steps)}"


def assert_series_mirrored(mirror: Mirror, run_id: str, expected: dict[str, dict[int, float]],
                           compare_values: bool = True) -> None:
    """Every (key, step) of the files is in MLflow exactly once, with the file's value."""
    for key, points in expected.items():
        history = mirror.history(run_id, key)
        steps = [step for step, _ in history]
        assert len(steps) == len(set(steps)), f"{key}: duplicate steps {sorted(steps)}"
        assert sorted(steps) == sorted(points), f"{key}: MLflow steps {sorted(steps)} != files {sorted(points)}"
        if compare_values:
            for step, value in history:
                want = points[step]
                assert value == pytest.approx(want, rel=1e-9, abs=1e-12) or (math.isnan(value) and math.isnan(want)), \
                    f"{key} at step {step}: MLflow {value} != file {want}"


def assert_run_matches_files(mirror: Mirror, run, run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    config = summary["config"]
    params, tags = run.data.params, run.data.tags
    # params = the resolved config of summary.json
    assert float(params["lr"]) == config["lr"]
    assert int(params["n_critic"]) == config["n_critic"]
    assert int(params["seed"]) == config["seed"] == summary["seed"]
    assert params["objective"] == config["objective"] == summary["objective"]
    for name, value in config.items():
        if isinstance(value, (list, tuple)):
            assert json.loads(params[name]) == list(value), name
        elif not isinstance(value, dict):
            assert params[name] == str(value), name
    # status
    assert summary["status"] == "finished", f"{run_dir} did not finish: {summary['status']}"
    assert tags["status"] == "finished"
    assert run.info.status == "FINISHED"
    # curves and scores, step = generator iteration
    curves = read_metrics_csv(run_dir / "metrics.csv")
    assert {"train/loss_d", "train/loss_g", "train/time_s"} <= set(curves)
    assert sorted(curves["train/loss_d"]) == list(range(10, config["steps"] + 1, 10))
    assert_series_mirrored(mirror, run.info.run_id, curves)
    scores = read_scores(run_dir)
    assert {"score/w1", "score/modes_covered"} <= set(scores)
    for points in scores.values():
        assert sorted(points) == config["checkpoint_steps"]
    assert_series_mirrored(mirror, run.info.run_id, scores)
    assert_no_duplicate_steps(mirror, run)
    # the sample grids of every checkpoint
    assert mirror.artifact_names(run.info.run_id, "samples") == {p.name for p in (run_dir / "samples").glob("*.png")}


def assert_benchmark_artifacts(mirror: Mirror, runs: dict[str, list], results: Path) -> None:
    assert len(runs.get("benchmark", [])) == 1, sorted(runs)
    bench = runs["benchmark"][0]
    for folder in ("figures", "tables"):
        files = {p.name for p in (results / folder).iterdir() if p.is_file()}
        assert files and mirror.artifact_names(bench.info.run_id, folder) == files, folder


def expected_outputs(workdir: Path, config: dict) -> list[Path]:
    """Every training, sample, score and aggregate output of the DAG (all but the MLflow marker)."""
    results = workdir / "results"
    paths = []
    for run_dir in run_dirs(workdir, config).values():
        paths += [run_dir / "summary.json", run_dir / "metrics.csv"]
        for step in config["datasets"][DATASET]["checkpoint_steps"]:
            paths += [run_dir / f"checkpoints/step{step:07d}.pt", run_dir / f"samples/step{step:07d}.npz",
                      run_dir / f"samples/step{step:07d}.png", run_dir / f"scores/step{step:07d}.json"]
    paths += [results / f"tables/{name}.csv" for name in ("scores", "training", "runs")]
    paths += [results / f"tables/{name}.{ext}" for name in ("final_scores", "pairwise", "toy")
              for ext in ("csv", "md", "tex")]
    paths += [results / "provenance.json", results / "figures/convergence_steps.png",
              results / f"figures/samples_{DATASET}.png"]
    return paths


# ---- 1. live logging to a real server -----------------------------------------------------------------

@pytest.mark.slow
def test_dag_logs_every_run_to_a_real_mlflow_server(tmp_path):
    config = small_config(objectives=["gan", "wgan-gp"])
    workdir, args = setup_workdir(tmp_path, config)
    with running_mlflow_server(tmp_path) as uri:
        snakemake(workdir, *args, env={"MLFLOW_TRACKING_URI": uri}, timeout=TIMEOUT)
        mirror = Mirror(uri)
        runs = mirror.runs_by_key()
        dirs = run_dirs(workdir, config)
        assert set(runs) == set(dirs) | {"benchmark"}
        n_score_points = 0
        for key, run_dir in dirs.items():
            assert len(runs[key]) == 1, f"{len(runs[key])} MLflow runs for {key}"
            run = runs[key][0]
            assert run.data.tags["dataset"] == DATASET
            assert_run_matches_files(mirror, run, run_dir)
            n_score_points += sum(len(p) for p in read_scores(run_dir).values())
            log = (workdir / f"results/logs/train/{key}.log").read_text()
            assert "tracking is off" not in log, log
        assert_benchmark_artifacts(mirror, runs, workdir / "results")
    # the curves went in live, from the training jobs: the final sync only had the scores to add
    synced = json.loads((workdir / "results/mlflow/synced.json").read_text())
    assert synced["tracking_uri"] == uri
    assert synced["metric_points_added"] == n_score_points
    store = json.loads((workdir / "results/mlflow/store.json").read_text())
    assert store["tracking_uri"] == uri and store["experiment_id"] == mirror.experiment_id
    # nothing was written to an embedded store on the side
    assert not (workdir / "results/mlflow.db").exists()


# ---- 2. a killed training job, then a rerun -----------------------------------------------------------

def training_processes(workdir: Path) -> list:
    """The python processes of the training jobs Snakemake started in workdir."""
    scripts = str(workdir / ".snakemake" / "scripts")
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if not any(arg.endswith(".train.py") and ".snakemake/scripts/" in arg for arg in cmdline):
            continue
        if not (proc.info["name"] or "").startswith("python") and not os.path.basename(cmdline[0]).startswith("python"):
            continue  # a shell wrapper, if any, goes down with its child
        script = next(arg for arg in cmdline if arg.endswith(".train.py"))
        with contextlib.suppress(psutil.Error):
            if script.startswith(scripts) or Path(proc.cwd()).resolve() == workdir.resolve():
                found.append(proc)
    return found


def metrics_rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except OSError:
        return 0


def start_snakemake(workdir: Path, *args: str, env: dict, log_path: Path) -> subprocess.Popen:
    """`snakemake ARGS` in the background, in its own process group (killed as a group if need be)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **env}
    exe = shutil.which("snakemake")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "snakemake", *args]
    with open(log_path, "wb") as out:
        return subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_rerun_after_a_killed_training_job_keeps_one_mlflow_run(tmp_path):
    # wgan-gp (5 critic steps per iteration) and 200 iterations: slow enough to be caught mid-run;
    # rolling resume checkpoints every 10 iterations; one scored checkpoint keeps the DAG short
    config = small_config(objectives=["wgan-gp"], steps=200, checkpoints=(200,), resume_every=10)
    workdir, args = setup_workdir(tmp_path, config)
    (key, run_dir), = run_dirs(workdir, config).items()
    env = {"MLFLOW_TRACKING_URI": ""}  # the embedded store results/mlflow.db
    uri = f"sqlite:///{(workdir / 'results/mlflow.db').resolve()}"
    first_log = tmp_path / "first.log"
    proc = start_snakemake(workdir, *args, env=env, log_path=first_log)
    try:
        deadline = time.monotonic() + TIMEOUT
        while metrics_rows(run_dir / "metrics.csv") < 4:
            assert proc.poll() is None, f"snakemake ended early:\n{first_log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, "training never wrote 4 metrics rows"
            time.sleep(0.05)
        victims = training_processes(workdir)
        assert len(victims) == 1, victims
        victims[0].send_signal(signal.SIGKILL)
        killed_at = metrics_rows(run_dir / "metrics.csv")
        rc = proc.wait(timeout=TIMEOUT)
    finally:
        stop_group(proc)
    output = first_log.read_text()
    assert rc != 0 and error_rules(output) == {"train"}, output[-4000:]
    assert killed_at < 20 and not (run_dir / "summary.json").exists()
    assert (run_dir / "checkpoints").is_dir()

    # the killed job left its run behind, running
    mirror = Mirror(uri)
    runs = mirror.runs_by_key()
    assert len(runs.get(key, [])) == 1, runs
    killed_run = runs[key][0]
    assert killed_run.info.status == "RUNNING"
    assert mirror.history(killed_run.info.run_id, "train/loss_d")

    proc = snakemake(workdir, *args, "--rerun-incomplete", env=env, timeout=TIMEOUT)
    log = (workdir / f"results/logs/train/{key}.log").read_text()
    assert "resuming" in log, log  # continued from a checkpoint, not restarted

    mirror = Mirror(uri)
    runs = mirror.runs_by_key()
    assert set(runs) == {key, "benchmark"}
    assert len(runs[key]) == 1, f"{len(runs[key])} MLflow runs for {key}"
    run = runs[key][0]
    assert run.info.run_id == killed_run.info.run_id  # the same run, continued
    assert (run_dir / "checkpoints/step0000200.pt").exists()
    curves = read_metrics_csv(run_dir / "metrics.csv")
    assert sorted(curves["train/loss_d"]) == list(range(10, 201, 10))
    # steps logged by the killed attempt after its last checkpoint were replayed by the resumed one
    # (time_s differs between the two attempts): compare steps, not values
    assert_series_mirrored(mirror, run.info.run_id, curves, compare_values=False)
    assert_series_mirrored(mirror, run.info.run_id, read_scores(run_dir))
    assert_no_duplicate_steps(mirror, run)
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "finished"


# ---- 3. the server down during training ---------------------------------------------------------------

@pytest.mark.slow
def test_server_down_costs_no_result_and_the_sync_fills_in_later(tmp_path):
    config = small_config(objectives=["wgan-gp"])
    workdir, args = setup_workdir(tmp_path, config)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = snakemake(workdir, *args, "--keep-going", env={"MLFLOW_TRACKING_URI": dead}, timeout=TIMEOUT,
                     check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, "mlflow_sync should fail while the server is down"
    assert error_rules(output) == {"mlflow_sync"}, output[-6000:]
    missing = [str(p.relative_to(workdir)) for p in expected_outputs(workdir, config) if not p.exists()]
    assert not missing, missing
    assert not (workdir / "results/mlflow/synced.json").exists()
    assert "unreachable" in (workdir / "results/logs/mlflow_init.log").read_text()
    for key in run_dirs(workdir, config):
        log = (workdir / f"results/logs/train/{key}.log").read_text()
        assert "MLflow tracking is off" in log, log
    assert not (workdir / "results/mlflow.db").exists()  # no silent fallback to another store

    with running_mlflow_server(tmp_path) as uri:
        env = {"MLFLOW_TRACKING_URI": uri}
        proc = snakemake(workdir, *args, env=env, timeout=TIMEOUT)
        assert_planned_only(proc, {"mlflow_sync"})  # nothing upstream reruns
        mirror = Mirror(uri)
        runs = mirror.runs_by_key()
        dirs = run_dirs(workdir, config)
        assert set(runs) == set(dirs) | {"benchmark"}
        for key, run_dir in dirs.items():
            assert len(runs[key]) == 1, f"{len(runs[key])} MLflow runs for {key}"
            assert_run_matches_files(mirror, runs[key][0], run_dir)
        assert_benchmark_artifacts(mirror, runs, workdir / "results")
        before = mirror.history_lengths()

        proc = snakemake(workdir, *args, "--forcerun", "mlflow_sync", env=env, timeout=TIMEOUT)
        assert_planned_only(proc, {"mlflow_sync"})
        assert json.loads((workdir / "results/mlflow/synced.json").read_text())["metric_points_added"] == 0
        assert {k: len(v) for k, v in mirror.runs_by_key().items()} == {k: len(v) for k, v in runs.items()}
        assert mirror.history_lengths() == before
