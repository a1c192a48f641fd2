"""Training: determinism, resume after SIGKILL, SIGTERM checkpoint, divergence, learning, bad input."""
import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from gan import checkpoint as ckpt
from gan import sampling
from gan.config import RESUMABLE_KEYS, ConfigError, TrainConfig
from gan.datasets import get_dataset
from gan.layout import RunFiles
from gan.sampling import generate
from gan.training import train

TINY = dict(dataset="8gaussians", model="toy", width=32, batch_size=64, log_every=5, seed=3)


def read_metrics(path, drop=("time_s",)):
    with open(path) as fh:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(fh)]


def assert_same_state(a, b):
    """Bitwise equality of everything a checkpoint holds but its wall-clock."""
    assert a.keys() == b.keys()
    for key in a:
        if key == "elapsed":
            continue
        if key == "config":  # settings that may differ between a run and its resumption
            a[key] = {k: v for k, v in a[key].items() if k not in RESUMABLE_KEYS}
            b[key] = {k: v for k, v in b[key].items() if k not in RESUMABLE_KEYS}
        if key == "metrics_rows":
            assert [{k: v for k, v in r.items() if k != "time_s"} for r in a[key]] == \
                   [{k: v for k, v in r.items() if k != "time_s"} for r in b[key]]
            continue
        _assert_equal(a[key], b[key], key)


def _assert_equal(x, y, where):
    if isinstance(x, torch.Tensor):
        assert torch.equal(x, y), where
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            _assert_equal(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            _assert_equal(u, v, f"{where}[{i}]")
    else:
        assert x == y, where


@pytest.mark.parametrize("objective", ["gan", "wgan-gp"])
def test_same_seed_gives_identical_metrics(tmp_path, objective):
    cfg = TrainConfig(objective=objective, steps=20, **TINY)
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    a, b = read_metrics(tmp_path / "a/metrics.csv"), read_metrics(tmp_path / "b/metrics.csv")
    assert len(a) == 4 and a == b
    assert set(a[0]) == {"step", "loss_d", "loss_g", "wasserstein", "gp", "grad_norm_d", "grad_norm_g",
                         "d_real", "d_fake"}
    if objective == "wgan-gp":
        assert all(r["wasserstein"] and r["gp"] for r in a)
    else:
        assert not any(r["wasserstein"] or r["gp"] for r in a)
    other = TrainConfig(objective=objective, steps=20, **{**TINY, "seed": 4})
    train(other, tmp_path / "c")
    assert read_metrics(tmp_path / "c/metrics.csv") != a


def _cli_train(run_dir, steps, extra=()):
    args = [sys.executable, "-m", "gan", "train", "--dataset", "8gaussians", "--objective", "wgan-gp",
            "--model", "toy", "--width", "32", "--batch-size", "64", "--seed", "1", "--steps", str(steps),
            "--log-every", "5", "--checkpoint-steps", "40,80,120", "--run-dir", str(run_dir), *extra]
    return args


@pytest.mark.slow
def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(_cli_train(reference, 120), check=True, capture_output=True)
    expected = ckpt.load(ckpt.step_path(reference, 120))
    # kill at different moments: before any checkpoint, and between checkpoints (rolling last.pt in between)
    for i, kill_after_rows in enumerate((3, 13)):
        run = tmp_path / f"killed{i}"
        proc = subprocess.Popen(_cli_train(run, 120, ["--resume-every", "15"]), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        metrics = run / "metrics.csv"
        deadline = time.time() + 120
        while time.time() < deadline:
            if metrics.exists() and len(metrics.read_text().splitlines()) > kill_after_rows:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (run / "summary.json").exists()
        subprocess.run(_cli_train(run, 120, ["--resume-every", "15"]), check=True, capture_output=True)
        assert_same_state(ckpt.load(ckpt.step_path(run, 120)), expected)
        assert read_metrics(run / "metrics.csv") == read_metrics(reference / "metrics.csv")


@pytest.mark.slow
def test_sigterm_checkpoints_exits_143_and_the_retry_equals_an_uninterrupted_run(tmp_path):
    """What SLURM preemption does: SIGTERM, then Snakemake's retry of the same command."""
    steps = 400
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli_train(run, steps), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = run / "metrics.csv"
    deadline = time.time() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 4):
        assert time.time() < deadline and proc.poll() is None, "training never logged 4 rows"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    last = ckpt.load(RunFiles(run).last_checkpoint)
    assert 0 < last["step"] < steps and b"SIGTERM" in err
    assert not (run / "summary.json").exists()

    subprocess.run(_cli_train(run, steps), check=True, capture_output=True)
    reference = tmp_path / "reference"
    subprocess.run(_cli_train(reference, steps), check=True, capture_output=True)
    assert_same_state(ckpt.load(ckpt.step_path(run, steps)), ckpt.load(ckpt.step_path(reference, steps)))
    assert read_metrics(run / "metrics.csv") == read_metrics(reference / "metrics.csv")


@pytest.mark.slow
def test_divergence_is_recorded_and_exits_zero(tmp_path):
    run = tmp_path / "run"
    # an absurd learning rate makes the unconstrained critic blow up within a few iterations
    args = [sys.executable, "-m", "gan", "train", "--dataset", "8gaussians", "--objective", "wgan",
            "--width", "32", "--batch-size", "64", "--steps", "200", "--lr", "1e30", "--clip-value", "1e30",
            "--checkpoint-steps", "100", "200", "--run-dir", str(run)]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged" and 1 <= summary["diverged_step"] <= summary["steps_done"] < 200
    assert not ckpt.step_path(run, 200).exists()
    assert summary["versions"]["torch"] and summary["config"]["hyperparameters"]["lr"] == 1e30
    # downstream stages see the status: samples (and so scores) of later checkpoints are marked missing
    from gan.sampling import load_samples, sample_checkpoint
    result = sample_checkpoint(run, 200, 10, 0, tmp_path / "s.npz", tmp_path / "s.png")
    assert result["status"] == "missing" and "diverged at step" in result["reason"]
    assert load_samples(tmp_path / "s.npz")["status"] == "missing"


def _mean_distance_to_modes(generator, dataset):
    x = generate(generator, 2000, seed=0)
    return torch.cdist(x, dataset.centers).min(1).values.mean().item()


@pytest.mark.parametrize("objective", ["gan", "gan-minimax", "wgan", "wgan-gp"])
def test_short_toy_run_moves_points_toward_the_modes(tmp_path, objective):
    hyper = {"gp_lambda": 0.1} if objective == "wgan-gp" else {}
    if objective == "wgan":
        hyper = {"lr": 5e-4}  # RMSProp at the paper's 5e-5 needs far more than a test's iterations
    cfg = TrainConfig(objective=objective, steps=300, checkpoint_steps=[1, 300], **{**TINY, "width": 64},
                      hyperparameters=hyper)
    train(cfg, tmp_path)
    ds = get_dataset("8gaussians")
    before = _mean_distance_to_modes(ckpt.load_run(ckpt.step_path(tmp_path, 1)).generator, ds)
    after = _mean_distance_to_modes(ckpt.load_run(ckpt.step_path(tmp_path, 300)).generator, ds)
    # the minimax loss saturates early (the GAN paper's own remark), so it moves more slowly
    assert after < (0.85 if objective == "gan-minimax" else 0.6) * before, (before, after)


def test_rerun_of_a_finished_run_changes_nothing(tmp_path):
    cfg = TrainConfig(objective="gan", steps=10, **TINY)
    train(cfg, tmp_path)
    before = ckpt.step_path(tmp_path, 10).read_bytes()
    summary = train(cfg, tmp_path)
    assert summary["steps_done"] == 10 and ckpt.step_path(tmp_path, 10).read_bytes() == before


@pytest.mark.parametrize("overrides, match", [
    ({"objective": "no-such-objective"}, "unknown objective 'no-such-objective'"),
    ({"model": "no-such-model"}, "unknown model 'no-such-model'; valid names: .*toy"),
    ({"dataset": "no-such-set"}, "unknown dataset 'no-such-set'"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"batch_size": -4}, "batch_size must be a positive integer"),
    ({"hyperparameters": {"lr": -1e-4}}, "lr: -0.0001 must be positive"),
    ({"objective": "wgan-gp", "compile": True}, "compile: objective 'wgan-gp' .*double backward"),
    ({"checkpoint_steps": [5, 50]}, r"checkpoint_steps: 50 is outside the run \(1..steps=10\)"),
    ({"objective": "wgan-gp", "dataset": "cifar10", "model": "dcgan", "critic_norm": "batch"}, "BatchNorm"),
])
def test_bad_input_fails_before_anything_is_written(tmp_path, overrides, match):
    cfg = TrainConfig(**{**TINY, "objective": "gan", "steps": 10, **overrides})
    with pytest.raises(ConfigError, match=match):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_corrupt_or_foreign_checkpoint_is_refused_and_kept(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name, content in (("step0000005.pt", b"not a checkpoint"), ("last.pt", None)):
        path = folder / name
        if content is None:
            torch.save({"something": torch.zeros(2)}, path)
        else:
            path.write_bytes(content)
        before = path.read_bytes()
        with pytest.raises(ckpt.CheckpointError, match=name):
            train(TrainConfig(objective="gan", steps=10, **TINY), tmp_path)
        assert path.read_bytes() == before and not (tmp_path / "metrics.csv").exists()
        path.unlink()


def test_changed_settings_do_not_resume_a_different_run(tmp_path):
    train(TrainConfig(objective="gan", steps=10, **TINY), tmp_path)
    with pytest.raises(ConfigError, match="different settings \\(hyperparameters\\)"):
        train(TrainConfig(objective="gan", steps=20, hyperparameters={"lr": 1e-3}, **TINY), tmp_path)
    # a longer run with the same settings resumes from step 10
    summary = train(TrainConfig(objective="gan", steps=20, **TINY), tmp_path)
    assert summary["steps_done"] == 20


def test_previews_at_step_0_and_every_checkpoint_leave_the_training_as_it_was(tmp_path, monkeypatch):
    """The pictures of the generator a training job draws (MLflow's step images while it trains) use noise of their
    own: the weights, the curve and every global random state end as they do without them; a resumed run keeps the
    pictures it made and draws a missing one again, the same."""
    import random

    import numpy as np

    cfg = TrainConfig(objective="wgan-gp", steps=20, checkpoint_steps=[10, 20], resume_every=0, **TINY)

    def rng_states():
        return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()

    with_previews, without = tmp_path / "with", tmp_path / "without"
    train(cfg, with_previews)
    after = rng_states()
    files = RunFiles(with_previews)
    assert sorted(p.name for p in files.preview(0).parent.iterdir()) == [files.preview(s).name for s in (0, 10, 20)]
    monkeypatch.setattr(sampling, "save_preview", lambda *args, **kwargs: None)
    train(cfg, without)
    plain = rng_states()
    monkeypatch.undo()
    assert not RunFiles(without).preview(0).parent.exists()
    assert_same_state(ckpt.load(ckpt.step_path(with_previews, 20)), ckpt.load(ckpt.step_path(without, 20)))
    assert read_metrics(files.metrics) == read_metrics(RunFiles(without).metrics)
    assert torch.equal(after[0], plain[0]) and np.array_equal(after[1], plain[1]) and after[2] == plain[2]

    made = {s: (files.preview(s).read_bytes(), files.preview(s).stat().st_mtime_ns) for s in (0, 10, 20)}
    for path in (ckpt.step_path(with_previews, 20), files.summary, files.preview(20)):
        path.unlink()
    train(cfg, with_previews)  # resumes from step 10
    assert all(files.preview(s).stat().st_mtime_ns == made[s][1] for s in (0, 10))
    assert files.preview(20).read_bytes() == made[20][0]


def test_sampling_is_deterministic_and_picks_cpu_noise(tmp_path):
    train(TrainConfig(objective="gan", steps=5, **TINY), tmp_path)
    g = ckpt.load_run(ckpt.step_path(tmp_path, 5)).generator
    assert torch.equal(generate(g, 300, seed=7, batch_size=128), generate(g, 300, seed=7, batch_size=1000))
    assert not torch.equal(generate(g, 300, seed=7), generate(g, 300, seed=8))
