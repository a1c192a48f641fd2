"""`python -m gan` as users call it: help, one-off runs, and one clear line for bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest


def gan(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gan", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_every_command():
    out = gan("--help")
    assert out.returncode == 0
    for command in ("train", "sample", "bench", "prepare", "reference", "score", "train-classifier",
                    "fetch-inception", "mlflow-init", "mlflow-sync"):
        assert command in out.stdout
    train_help = gan("train", "--help").stdout
    assert "--n-critic" in train_help and "wgan-gp" in train_help


def test_train_then_sample_without_snakemake(tmp_path):
    run = tmp_path / "run"
    out = gan("train", "--dataset", "25gaussians", "--objective", "wgan", "--width", "16", "--steps", "6",
              "--log-every", "2", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "finished"
    out = gan("sample", "--run-dir", str(run), "--step", "6", "--n", "50", "--seed", "1")
    assert out.returncode == 0, out.stderr
    with np.load(run / "samples/step0000006.npz") as f:
        assert f["samples"].shape == (50, 2) and str(f["kind"]) == "points"
    assert (run / "samples/step0000006.png").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["--objective", "lsgan"], "unknown objective 'lsgan'; valid names: gan, gan-minimax, wgan, wgan-gp"),
    (["--dataset", "celeba"], "unknown dataset 'celeba'"),
    (["--steps", "0"], "steps must be a positive integer"),
    (["--lr", "-0.0001"], "lr must be positive"),
    (["--checkpoint-steps", "[50]"], "checkpoint_steps: 50 is outside the run"),
    (["--dataset", "mnist", "--data-root", "nowhere"], "Place these files in nowhere/mnist/MNIST/raw"),
])
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, args, message):
    base = {"--dataset": "8gaussians", "--objective": "gan", "--steps": "10"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    flat = [x for kv in base.items() for x in kv]
    out = gan("train", *flat, "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_bench_reports_both_feeds(tmp_path):
    out = gan("bench", "--dataset", "digits", "--model", "dcgan", "--objectives", "gan", "--steps", "3",
              "--warmup", "1", "--json", str(tmp_path / "bench.json"))
    assert out.returncode == 0, out.stderr
    row = json.loads((tmp_path / "bench.json").read_text())[0]
    assert row["it_per_s_in-memory"] > 0 and row["it_per_s_dataloader"] > 0
    assert row["speedup"] == pytest.approx(row["it_per_s_in-memory"] / row["it_per_s_dataloader"])
    assert "ratio" in out.stdout
