"""MLflow while it runs (issue 23, item 3): a training job mirrors its own run at checkpoints, through the one sync
and its lock, without changing the run; the parent run carries the benchmark's params; Figure 1(a) is mirrored."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402

from gan import tracking  # noqa: E402
from gan.config import config_from_dict  # noqa: E402
from gan.layout import Layout  # noqa: E402
from gan.training import train  # noqa: E402

BENCHMARK = {"experiment": "live", "seeds": [0, 3], "objectives": ["wgan-gp"],
             "datasets": {"8gaussians": {"train": {"steps": 40}}}}


@pytest.fixture(autouse=True)
def _no_env_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _settings(results: Path) -> dict:
    return {"dataset": "8gaussians", "objective": "wgan-gp", "seed": 0, "steps": 40, "checkpoint_steps": [20, 40],
            "resume_every": 0, "log_every": 5, "width": 16, "batch_size": 32, "model": "toy"}


def _image_steps(client, run) -> set[int]:
    """The steps of the run's "samples" images whose compressed copy (what the UI's slider shows) is logged."""
    names = (Path(f.path).name for f in client.list_artifacts(run.info.run_id, "images"))
    return {int(m[1]) for name in names if (m := re.fullmatch(r"samples\+step\+(\d+)\+.*\+compressed\.webp", name))}


def _runs(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return {r.data.tags[tracking.KEY_TAG]: r for r in client.search_runs([exp.experiment_id])} if exp else {}


def test_a_training_job_mirrors_its_run_at_checkpoints_without_changing_it(tmp_path):
    results = tmp_path / "results"
    layout = Layout(str(results))
    uri = tracking.resolve_tracking_uri(None, results)
    client = MlflowClient(uri)
    seen = {}

    class Watching(tracking.LiveMirror):
        def __call__(self, step, config):
            super().__call__(step, config)
            run = _runs(client, "live").get("8gaussians/wgan-gp/seed0")
            seen[step] = None if run is None else (run.info.status, {m.step for m in client.get_metric_history(
                run.info.run_id, "train/loss_d")}, _image_steps(client, run))

    mirror = Watching(str(results), uri, "live", "8gaussians", "wgan-gp", 0, BENCHMARK, every_s=0)
    run_dir = layout.run_dir("8gaussians", "wgan-gp", 0)
    train(config_from_dict(_settings(results)), run_dir, on_checkpoint=mirror)
    # while training: the run exists, running, with the curve and the generator's previews up to each checkpoint
    assert seen[20] == ("RUNNING", {5, 10, 15, 20}, {0, 20})
    assert seen[40] == ("RUNNING", {5 * i for i in range(1, 9)}, {0, 20, 40})
    mirror.finished()
    runs = _runs(client, "live")
    child, parent = runs["8gaussians/wgan-gp/seed0"], runs[tracking.BENCHMARK_KEY]
    assert child.info.status == "FINISHED" and child.data.tags["status"] == "finished"
    assert child.data.params["hyperparameters.gp_lambda"] == "10.0"
    assert parent.data.params["seeds"] == "[0, 3]" and parent.data.params["config_hash"]
    assert parent.data.params["datasets.8gaussians.train.steps"] == "40"
    # the same run without the mirror: the same curve and weights (the hook leaves every random state as it was)
    plain = tmp_path / "plain"
    train(config_from_dict(_settings(results)), plain)
    strip = (lambda text: [line.split(",")[:1] + line.split(",")[2:] for line in text.splitlines()])
    assert strip(Path(run_dir, "metrics.csv").read_text()) == strip((plain / "metrics.csv").read_text())
    import torch

    a, b = (torch.load(Path(d, "checkpoints/step0000040.pt"), weights_only=False)["generator"] for d in (run_dir, plain))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_mirror_that_fails_costs_the_training_nothing(tmp_path, caplog):
    results = tmp_path / "results"
    mirror = tracking.LiveMirror(str(results), "http://127.0.0.1:9", "live", "8gaussians", "wgan-gp", 0,
                                 every_s=0)
    summary = train(config_from_dict(_settings(results)), Layout(str(results)).run_dir("8gaussians", "wgan-gp", 0),
                    on_checkpoint=mirror)
    mirror.finished()
    assert summary["status"] == "finished"
    assert "MLflow mirror of this run skipped" in caplog.text


def test_only_a_configured_tracking_uri_turns_the_live_mirror_on(monkeypatch):
    config = {**BENCHMARK, "results_dir": "results/{experiment}", "mlflow": {"enabled": True, "tracking_uri": None,
                                                                            "live_every_s": 300}}
    assert tracking.LiveMirror.for_job(config, "8gaussians", "wgan-gp", 0) is None  # the local store: at the end
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    mirror = tracking.LiveMirror.for_job(config, "8gaussians", "wgan-gp", 0)
    assert mirror.results_dir == "results/live" and mirror.every_s == 300
    assert tracking.LiveMirror.for_job({**config, "mlflow": {**config["mlflow"], "live_every_s": 0}},
                                       "8gaussians", "wgan-gp", 0) is None


def test_figure1a_is_mirrored_with_the_parent_run(tmp_path):
    layout = Layout(str(tmp_path))
    for path in (layout.figure1a_table("csv"), layout.figure("figure1a", "png", "figure1a"),
                 layout.optimal_critic("8gaussians", "penalty")):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("x")
    files = {(p.name, folder) for p, folder in tracking._benchmark_files(layout)}
    assert files == {("gradient_norms.csv", "figure1a"), ("figure1a.png", "figure1a")}  # the critics' npz stay


def test_a_dag_with_a_tracking_uri_fills_mlflow_while_training(tmp_path):
    """Only the training jobs run (`--until train`): the configured store already holds the run and its curve, and
    the DAG's own sync has not run."""
    from workflow_helpers import SIDE_STAGES_OFF, complete_config, copy_workflow, snakemake, write_config

    work = copy_workflow(tmp_path / "work")
    store = tmp_path / "store.db"
    config = {"experiment": "live-dag", "seeds": [0], "objectives": ["wgan-gp"],
              "datasets": {"8gaussians": {"train": {"model": "toy", "width": 16, "steps": 40, "batch_size": 32,
                                                    "log_every": 10}, "checkpoint_steps": [20, 40],
                                          "samples": 100, "n_real": 100}},
              "mlflow": {"tracking_uri": f"sqlite:///{store}", "live_every_s": 1}, **SIDE_STAGES_OFF}
    path = write_config(work, "live.yaml", config).relative_to(work)
    snakemake(work, "--cores", "1", *complete_config(path), "--until", "train")
    layout = Layout(str(work / "results/live-dag"))
    assert not (work / layout.mlflow_synced).exists()  # the DAG's sync is still to come
    client = MlflowClient(f"sqlite:///{store}")
    runs = _runs(client, "live-dag")
    child = runs["8gaussians/wgan-gp/seed0"]
    assert {m.step for m in client.get_metric_history(child.info.run_id, "train/loss_d")} == {10, 20, 30, 40}
    assert child.info.status == "FINISHED" and runs[tracking.BENCHMARK_KEY].data.params["experiment"] == "live-dag"
    assert _image_steps(client, child) == {0, 20, 40}  # the previews, before any evaluation job ran
    assert "MLflow sqlite:" in (work / layout.log("train", "8gaussians", "wgan-gp", "seed0")).read_text()


def test_a_parent_made_by_a_live_sync_starts_before_a_training_that_started_earlier(tmp_path):
    """Two trainings of one DAG: seed 3 started first but seed 0 reaches a checkpoint first, so seed 0's live sync
    creates the parent while seed 3 is still training; the parent must still span both children as MLflow times
    them."""
    results = tmp_path / "results"
    layout = Layout(str(results))
    uri = tracking.resolve_tracking_uri(None, results)
    client = MlflowClient(uri)
    for seed in (3, 0):  # seed 3 first: it started earlier
        train(config_from_dict({**_settings(results), "seed": seed}), layout.run_dir("8gaussians", "wgan-gp", seed))
    early = layout.run("8gaussians", "wgan-gp", 3)
    summary = early.summary.read_bytes()
    early.summary.unlink()  # seed 3 as it was while still training: its metrics.csv, no summary yet
    live = {"dataset": "8gaussians", "objective": "wgan-gp", "seed": 0,
            "config": {"dataset": "8gaussians", "objective": "wgan-gp", "seed": 0}}
    tracking.sync(str(results), uri, "live", benchmark=BENCHMARK, live=live)  # seed 0's live sync makes the parent
    early.summary.write_bytes(summary)
    tracking.sync(str(results), uri, "live", benchmark=BENCHMARK)  # the DAG's sync at the end
    runs = _runs(client, "live")
    parent = runs[tracking.BENCHMARK_KEY]
    for key in ("8gaussians/wgan-gp/seed0", "8gaussians/wgan-gp/seed3"):
        child = runs[key]
        assert child.data.tags[tracking.PARENT_TAG] == parent.info.run_id
        assert parent.info.start_time <= child.info.start_time, key
        assert child.info.end_time <= parent.info.end_time, key
