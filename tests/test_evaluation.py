"""Per-run sampling and scoring (the `sample` and `score` rules): the same files as one checkpoint at a time, and
an interrupted job's retry keeps the checkpoints it finished (gan.progress)."""
import json
import os

import numpy as np
import pytest

from gan import atomic
from gan.config import TrainConfig
from gan.layout import RunFiles
from gan.metrics import build_scorers, compute_reference, score_run, score_samples
from gan.sampling import load_samples, sample_checkpoint, sample_run
from gan.training import train

STEPS = [4, 8, 12]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny 8-gaussians run with three checkpoints and the points reference to score it against."""
    root = tmp_path_factory.mktemp("evaluation")
    run_dir = root / "run"
    train(TrainConfig(dataset="8gaussians", model="toy", objective="gan", width=32, batch_size=64, steps=12,
                      checkpoint_steps=STEPS, log_every=4, seed=3), run_dir)
    reference = compute_reference("8gaussians", "points", root / "ref.npz", n_real=500, seed=0)
    return run_dir, reference


def _stats(paths):
    return {str(p): (os.stat(p).st_mtime_ns, os.stat(p).st_ino) for p in paths}


def _evaluate(run_dir, reference, eval_seed=1):
    files = RunFiles(run_dir)
    sampled = sample_run(run_dir, STEPS, 200, eval_seed)
    scored = score_run(files.samples_index, build_scorers({"points": reference}), seed=eval_seed,
                       dataset="8g", objective="gan", run_seed=3)
    return sampled, scored


def test_per_run_files_equal_the_per_checkpoint_path(run, tmp_path):
    run_dir, reference = run
    files = RunFiles(run_dir)
    sampled, scored = _evaluate(run_dir, reference)
    assert sorted(int(s) for s in sampled["steps"]) == STEPS and sampled["reused_steps"] == []
    sample_run(run_dir, STEPS, 200, 1, tmp_path / "index.json", sheet=tmp_path / "sheet.png")  # the report's page
    from PIL import Image
    assert np.asarray(Image.open(tmp_path / "sheet.png").convert("L"), dtype=float).std() > 5
    for step in STEPS:
        one = tmp_path / f"one{step}.npz"
        sample_checkpoint(run_dir, step, 200, 1, one)
        np.testing.assert_array_equal(load_samples(one)["samples"], load_samples(files.samples(step))["samples"])
        alone = score_samples(one, reference, None, seed=1, dataset="8g", objective="gan", run_seed=3, step=step)
        per_run = atomic.read_json(files.scores(step))
        np.testing.assert_equal(per_run["metrics"], alone["metrics"])  # NaN (mode_kl of no mode) equals NaN
        assert per_run["metrics"]["w1"] > 0
        assert per_run["protocol"] == alone["protocol"]
        assert scored["steps"][str(step)]["scores"] == str(files.scores(step))
    # a finished job leaves no progress behind: a forced rerun recomputes everything
    assert not files.progress("samples").exists() and not files.progress("scores").exists()
    again, _ = _evaluate(run_dir, reference)
    assert again["reused_steps"] == []


def test_an_interrupted_job_keeps_its_finished_checkpoints(run):
    run_dir, reference = run
    files = RunFiles(run_dir)
    last, hidden = files.checkpoint(STEPS[-1]), run_dir / "hidden.pt"
    os.replace(last, hidden)  # the job dies at the last checkpoint (a rename keeps the file's mtime)
    with pytest.raises(FileNotFoundError, match="no checkpoint for step 12"):
        sample_run(run_dir, STEPS, 200, 5)
    kept = _stats([files.samples(s) for s in STEPS[:-1]] + [files.picture(s) for s in STEPS[:-1]])
    assert files.progress("samples").exists()
    os.replace(hidden, last)
    sampled = sample_run(run_dir, STEPS, 200, 5)
    assert sampled["reused_steps"] == STEPS[:-1] and _stats(kept) == kept
    assert load_samples(files.samples(STEPS[-1]))["seed"] == 5

    # scoring dies at the second checkpoint; its retry reuses the first
    second, hidden = files.samples(STEPS[1]), run_dir / "hidden.npz"
    os.replace(second, hidden)
    scorers = build_scorers({"points": reference})
    with pytest.raises(FileNotFoundError):
        score_run(files.samples_index, scorers, seed=5)
    kept = _stats([files.scores(STEPS[0])])
    os.replace(hidden, second)
    scored = score_run(files.samples_index, scorers, seed=5)
    assert scored["reused_steps"] == [STEPS[0]] and _stats(kept) == kept


def test_nothing_is_reused_from_other_settings_or_changed_files(run):
    run_dir, reference = run
    files = RunFiles(run_dir)
    last, hidden = files.checkpoint(STEPS[-1]), run_dir / "hidden.pt"
    os.replace(last, hidden)
    with pytest.raises(FileNotFoundError):
        sample_run(run_dir, STEPS, 200, 7)
    os.replace(hidden, last)
    # another evaluation seed: a different job, nothing reused
    assert sample_run(run_dir, STEPS, 200, 8)["reused_steps"] == []

    os.replace(last, hidden)
    with pytest.raises(FileNotFoundError):
        sample_run(run_dir, STEPS, 200, 7)
    os.replace(hidden, last)
    # a retrained checkpoint (new mtime) is sampled again; so is a samples file someone touched
    os.utime(files.checkpoint(STEPS[0]))
    os.utime(files.samples(STEPS[1]), ns=(1, 1))
    assert sample_run(run_dir, STEPS, 200, 7)["reused_steps"] == []


def test_a_diverged_run_is_indexed_with_missing_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    # an absurd learning rate makes the unconstrained critic blow up within a few iterations
    train(TrainConfig(dataset="8gaussians", model="toy", objective="wgan", width=32, batch_size=64, steps=200,
                      checkpoint_steps=[100, 200], hyperparameters={"lr": 1e30, "clip_value": 1e30}), run_dir)
    summary = json.loads(RunFiles(run_dir).summary.read_text())
    assert summary["status"] == "diverged"
    index = sample_run(run_dir, [100, 200], 50, 0, tmp_path / "index.json")
    assert index["steps"]["200"]["status"] == "missing" and "diverged" in index["steps"]["200"]["reason"]
    reference = compute_reference("8gaussians", "points", tmp_path / "ref.npz", n_real=200, seed=0)
    scored = score_run(tmp_path / "index.json", build_scorers({"points": reference}))
    assert scored["steps"]["200"]["status"] == "missing"


@pytest.mark.slow
def test_the_dags_evaluation_retry_keeps_finished_checkpoints(tmp_path):
    """Through Snakemake, as users run it: the per-run sample job fails at its last checkpoint (Snakemake deletes
    its declared index), and the rerun reuses the checkpoints it had finished."""
    from workflow_helpers import (SIDE_STAGES_OFF, complete_config, copy_workflow, results_dir, smoke_config, snakemake,
                                  write_config)

    config = smoke_config(seeds=[0], objectives=["gan"], objective_settings={}, **SIDE_STAGES_OFF,
                          mlflow={"enabled": False})
    config["datasets"] = {"8gaussians": {"train": {"model": "toy", "width": 32, "steps": 30, "batch_size": 64,
                                                   "log_every": 10},
                                         "checkpoint_steps": [10, 20, 30], "samples": 200, "n_real": 200}}
    copy_workflow(tmp_path)
    path = write_config(tmp_path, "retry.yaml", config)
    files = RunFiles(tmp_path / results_dir(config) / "runs/8gaussians/gan/seed0")
    target = str(files.samples_index.relative_to(tmp_path))
    snakemake(tmp_path, str(files.summary.relative_to(tmp_path)), "--cores", "1", *complete_config(path))
    hidden = tmp_path / "hidden.pt"
    os.replace(files.checkpoint(30), hidden)
    failed = snakemake(tmp_path, target, "--cores", "1", *complete_config(path), check=False)
    assert failed.returncode != 0 and not files.samples_index.exists()
    kept = _stats([files.samples(10), files.samples(20)])
    os.replace(hidden, files.checkpoint(30))
    snakemake(tmp_path, target, "--cores", "1", *complete_config(path))
    index = json.loads(files.samples_index.read_text())
    assert index["reused_steps"] == [10, 20] and _stats(kept) == kept
    assert sorted(index["steps"]) == ["10", "20", "30"] and not files.progress("samples").exists()


def test_the_cli_evaluates_a_run_in_one_process_each(run, tmp_path):
    from gan.cli import main

    run_dir, reference = run
    files = RunFiles(run_dir)
    index = tmp_path / "samples.json"
    assert main(["sample", "--run-dir", str(run_dir), "--steps", "4,8", "--n", "100", "--seed", "2",
                 "--out", str(index)]) == 0
    assert main(["score", "--samples-index", str(index), "--reference", str(reference), "--seed", "2",
                 "--out", str(tmp_path / "scores.json")]) == 0
    scored = json.loads((tmp_path / "scores.json").read_text())
    assert sorted(scored["steps"]) == ["4", "8"]
    for step in (4, 8):
        assert atomic.read_json(files.scores(step))["protocol"]["samples_eval_seed"] == 2
    # --step and --steps together: one error line, exit 2
    assert main(["sample", "--run-dir", str(run_dir), "--steps", "4", "--step", "4"]) == 2
