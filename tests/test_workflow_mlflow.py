"""The MLflow mirror of the Snakemake DAG, through the `snakemake` command users type, on a small config.

MLflow has one writer, gan.tracking.sync under its lock: the `mlflow_sync` rule at the end of the DAG, and with a
tracking server configured each training job for its own run while it trains (gan.tracking.LiveMirror):

1. a real `mlflow server`: one parent run for the benchmark with a child per (dataset, objective, seed), params,
   every metrics.csv point at its training time, scores, status, the training's preview pictures as images at step 0
   and every checkpoint, the evaluation's sample pictures as artifacts, and the benchmark's tables and figures;
   a user's `python -m gan mlflow-sync` afterwards adds nothing;
2. the server down during the whole DAG: every result file is still produced and only `mlflow_sync` fails;
   with the server back, the same command reruns only `mlflow_sync` and fills MLflow in, and forcing the sync
   again adds nothing.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402

from gan.layout import results_root  # noqa: E402
from gan.schema import default  # noqa: E402
from mlflow_server import free_port, running_mlflow_server  # noqa: E402
from workflow_helpers import SIDE_STAGES_OFF, complete_config, copy_workflow, job_counts, smoke_config, snakemake, write_config  # noqa: E402

DATASET = "8gaussians"
KEY_TAG = "gan_bench.key"
EXPERIMENT = "gan-bench-smoke-mlflow"
RESULTS = results_root(default("results_dir"), EXPERIMENT)  # the config's results folder
TIMEOUT = 600  # seconds for any one snakemake invocation


# ---- config and files -------------------------------------------------------------------------------

def small_config(objectives, seeds=(0,), steps=60, checkpoints=(30, 60), resume_every=10) -> dict:
    """config/smoke.yaml restricted to 8 gaussians, the given objectives/seeds and a short schedule."""
    config = smoke_config(seeds=list(seeds), objectives=list(objectives), experiment=EXPERIMENT,
                          **SIDE_STAGES_OFF)  # not what these tests are about
    toy = config["datasets"][DATASET]
    toy["train"].update(steps=steps, log_every=10, resume_every=resume_every)
    toy["checkpoint_steps"] = list(checkpoints)
    toy["samples"] = toy["n_real"] = 500
    config["datasets"] = {DATASET: toy}
    # settings of objectives left out of the grid are refused by the config check: keep the selected ones
    for block in (config, toy):
        if "objective_settings" in block:
            block["objective_settings"] = {o: v for o, v in block["objective_settings"].items() if o in objectives}
    return config


def setup_workdir(tmp_path: Path, config: dict) -> tuple[Path, tuple[str, ...]]:
    workdir = copy_workflow(tmp_path / "wf")
    path = write_config(workdir, "mlflow_test.yaml", config)
    return workdir, ("--cores", "2", *complete_config(path))


def run_dirs(workdir: Path, config: dict) -> dict[str, Path]:
    return {f"{DATASET}/{o}/seed{s}": workdir / RESULTS / f"runs/{DATASET}/{o}/seed{s}"
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

    def image_steps(self, run_id: str, key: str = "samples") -> list[int]:
        """Steps of log_image's full-size pictures (images/{key}+step+{step}+timestamp+...png), as the UI reads them."""
        pattern = rf"{re.escape(key)}\+step\+(\d+)\+.*\.png"  # the compressed copy is a .webp
        return sorted(int(m[1]) for n in self.artifact_names(run_id, "images") if (m := re.fullmatch(pattern, n)))


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
    # params = the resolved config of summary.json, nested settings as dotted keys
    def leaves(d: dict, prefix: str = ""):
        for name, value in d.items():
            if isinstance(value, dict) and value:
                yield from leaves(value, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", value

    assert int(params["seed"]) == config["seed"] == summary["seed"]
    for name, value in leaves(config):
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
    # the training's preview at step 0 and every checkpoint, once, at its step; the evaluation's pictures as artifacts
    assert mirror.image_steps(run.info.run_id) == [0, *config["checkpoint_steps"]]
    assert mirror.artifact_names(run.info.run_id, "samples") == {f"step{s:07d}.png" for s in config["checkpoint_steps"]}


def assert_benchmark_artifacts(mirror: Mirror, runs: dict[str, list], results: Path) -> None:
    assert len(runs.get("benchmark", [])) == 1, sorted(runs)
    bench = runs["benchmark"][0]
    for folder in ("figures", "tables"):
        files = {p.name for p in (results / folder).iterdir() if p.is_file()}
        assert files and mirror.artifact_names(bench.info.run_id, folder) == files, folder


def expected_outputs(workdir: Path, config: dict) -> list[Path]:
    """Every training, sample, score and aggregate output of the DAG (all but the MLflow marker)."""
    results = workdir / RESULTS
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


# ---- 1. a real server -------------------------------------------------------------------------------------

def assert_structure_and_times(mirror: Mirror, runs: dict[str, list], dirs: dict[str, Path]) -> None:
    """One parent run, a child per run folder, training times from summary.json and metrics.csv."""
    exp = mirror.client.get_experiment(mirror.experiment_id)
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"  # opens on the training runs
    parent = runs["benchmark"][0]
    for key, run_dir in dirs.items():
        run = runs[key][0]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags.get("mlflow.source.git.commit") == summary["git"]["commit"]  # None outside git
        assert run.info.end_time - run.info.start_time == pytest.approx(summary["wall_clock_s"] * 1000, abs=2)
        assert parent.info.start_time <= run.info.start_time and run.info.end_time <= parent.info.end_time
        # every point at start + its metrics.csv time_s, not at the sync's time
        for point in mirror.client.get_metric_history(run.info.run_id, "train/time_s"):
            assert point.timestamp - point.value * 1000 == pytest.approx(run.info.start_time, abs=2)


@pytest.mark.slow
def test_dag_mirrors_every_run_to_a_real_mlflow_server(tmp_path):
    config = small_config(objectives=["gan", "wgan-gp"])
    workdir, args = setup_workdir(tmp_path, config)
    with running_mlflow_server(tmp_path) as uri:
        env = {"MLFLOW_TRACKING_URI": uri}
        snakemake(workdir, *args, env=env, timeout=TIMEOUT)
        mirror = Mirror(uri)
        runs = mirror.runs_by_key()
        dirs = run_dirs(workdir, config)
        assert set(runs) == set(dirs) | {"benchmark"}
        n_points = 0
        for key, run_dir in dirs.items():
            assert len(runs[key]) == 1, f"{len(runs[key])} MLflow runs for {key}"
            run = runs[key][0]
            assert run.data.tags["dataset"] == DATASET
            assert_run_matches_files(mirror, run, run_dir)
            n_points += sum(len(p) for p in read_scores(run_dir).values())
            n_points += sum(len(p) for p in read_metrics_csv(run_dir / "metrics.csv").values())
        assert_benchmark_artifacts(mirror, runs, workdir / RESULTS)
        assert_structure_and_times(mirror, runs, dirs)
        synced = json.loads((workdir / RESULTS / "mlflow/synced.json").read_text())
        assert synced["tracking_uri"] == uri and synced["runs"] == len(dirs)
        assert synced["ui_path"] == f"#/experiments/{mirror.experiment_id}/runs?workflowType=machine_learning"
        # with a tracking server configured the training jobs mirrored their own curves while they ran (issue 23):
        # the DAG's sync added the rest (the scores), and every file point is in MLflow once (checked above)
        assert 0 < synced["metric_points_added"] < n_points
        before = mirror.history_lengths()

        # a user's manual sync afterwards (its results folder from the config, as the README says) adds nothing
        proc = subprocess.run([sys.executable, "-m", "gan", "mlflow-sync", "--configfile", args[-2]], cwd=workdir,
                              capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert "0 created, 0 metric points added, 0 images added" in proc.stdout, proc.stdout
        assert {k: len(v) for k, v in mirror.runs_by_key().items()} == {k: len(v) for k, v in runs.items()}
        assert mirror.history_lengths() == before
    # nothing was written to an embedded store on the side
    assert not (workdir / RESULTS / "mlflow.db").exists()


# ---- 2. the server down during the DAG ---------------------------------------------------------------

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
    assert not (workdir / RESULTS / "mlflow/synced.json").exists()
    assert "result files untouched" in (workdir / RESULTS / "logs/mlflow_sync.log").read_text()
    assert not (workdir / RESULTS / "mlflow.db").exists()  # no silent fallback to another store

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
        assert_benchmark_artifacts(mirror, runs, workdir / RESULTS)
        assert_structure_and_times(mirror, runs, dirs)
        before = mirror.history_lengths()

        proc = snakemake(workdir, *args, "--forcerun", "mlflow_sync", env=env, timeout=TIMEOUT)
        assert_planned_only(proc, {"mlflow_sync"})
        assert json.loads((workdir / RESULTS / "mlflow/synced.json").read_text())["metric_points_added"] == 0
        assert {k: len(v) for k, v in mirror.runs_by_key().items()} == {k: len(v) for k, v in runs.items()}
        assert mirror.history_lengths() == before
