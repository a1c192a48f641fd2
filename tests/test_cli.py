"""`python -m gan` as users call it: one front door, help for every flag, one clear line for bad input."""
import argparse
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gan.cli import build_parser, main
from gan.layout import RunFiles

TOY = ["--dataset", "8gaussians", "--width", "8", "--log-every", "1"]


def gan(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gan", *args], capture_output=True, text=True, cwd=cwd)


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def help_text(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_command(capsys):
    out = help_text(capsys)
    for command in ("train", "sample", "bench", "prepare", "reference", "score", "train-classifier",
                    "fetch-weights", "mlflow-sync", "status", "--plugin"):
        assert command in out
    train_help = help_text(capsys, "train")
    for flag in ("--n-critic", "--lr", "--gp-lambda", "--clip-value", "--critic-boost", "--no-critic-boost",
                 "--betas", "--checkpoint-steps", "--dataset-options", "wgan-gp"):
        assert flag in train_help
    assert "--hyperparameters" not in train_help


def test_metrics_cli_module_is_gone():
    with pytest.raises(ImportError):
        __import__("gan.metrics.cli")


def test_every_flag_has_help():
    parser = build_parser()
    parsers = {"python -m gan": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers.update(action.choices)
    assert {"train", "sample", "bench", "prepare", "reference", "score", "train-classifier",
            "fetch-weights"} <= set(parsers)
    missing = [f"{name} {action.option_strings[0]}" for name, p in parsers.items() for action in p._actions
               if action.option_strings and not action.help]
    assert not missing, missing


def test_hyperparameter_flags_name_their_objectives():
    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    helps = {a.dest: a.help for a in train._actions}
    assert "wgan" in helps["hp:clip_value"] and "gan-minimax" not in helps["hp:clip_value"]
    assert "wgan-gp" in helps["hp:gp_lambda"] and "wgan:" not in helps["hp:gp_lambda"]
    assert all(name in helps["hp:lr"] for name in ("gan", "gan-minimax", "wgan", "wgan-gp"))


@pytest.mark.parametrize("given, expected", [
    (["2"], {2, 4}),
    (["1", "2"], {1, 2, 4}),
    (["1,3"], {1, 3, 4}),
    (["[1, 2]"], {1, 2, 4}),
])
def test_checkpoint_steps_in_every_form(tmp_path, capsys, given, expected):
    run = tmp_path / "run"
    code = main(["train", *TOY, "--objective", "gan", "--steps", "4", "--run-dir", str(run),
                 "--checkpoint-steps", *given])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["status"] == "finished"
    assert set(RunFiles(run).stored_steps()) == expected


def test_hyperparameter_flags_reach_the_objective(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--objective", "wgan-gp", "--steps", "2", "--run-dir", str(run), "--lr", "3e-4",
                 "--betas", "0.5,0.8", "--gp-lambda", "1", "--n-critic", "2"]) == 0, capsys.readouterr().err
    hp = json.loads((run / "summary.json").read_text())["config"]["hyperparameters"]
    assert (hp["lr"], hp["betas"], hp["gp_lambda"], hp["n_critic"]) == (3e-4, [0.5, 0.8], 1.0, 2)
    run = tmp_path / "run2"
    assert main(["train", *TOY, "--objective", "wgan", "--steps", "2", "--run-dir", str(run), "--clip-value", "0.05",
                 "--critic-boost", "--optimizer", "adam", "--betas", "0.5", "0.9"]) == 0
    hp = json.loads((run / "summary.json").read_text())["config"]["hyperparameters"]
    assert (hp["clip_value"], hp["critic_boost"], hp["optimizer"], hp["betas"]) == (0.05, True, "adam", [0.5, 0.9])


def test_default_run_dir_is_apart_from_every_benchmark_and_keyed_by_settings(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", *TOY, "--objective", "gan", "--steps", "2", "--seed", "3", "--objective-entry", "gan-small"]
    assert main(args) == 0
    (first,) = (tmp_path / "results/one-off/8gaussians/gan-small").glob("seed3-*/summary.json")
    assert capsys.readouterr().err.strip().endswith(str(first.parent.relative_to(tmp_path)))
    assert main(["sample", "--run-dir", str(first.parent), "--step", "2", "--n", "20"]) == 0
    files = RunFiles(first.parent)
    assert files.samples(2).is_file() and files.picture(2).is_file()
    # other settings: another folder, the first run untouched; more steps: the same folder (resumed)
    before = first.read_bytes()
    assert main([*args, "--lr", "0.0003"]) == 0
    assert main([*args, "--steps", "4"]) == 0
    runs = sorted(p.parent.name for p in (tmp_path / "results/one-off/8gaussians/gan-small").glob("seed3-*/summary.json"))
    assert len(runs) == 2 and first.parent.name in runs
    assert json.loads(first.read_text())["steps_done"] == 4 and before != first.read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--objective", "no-such-objective"], "unknown objective 'no-such-objective'; valid names: "),
    (["--dataset", "no-such-set"], "unknown dataset 'no-such-set'"),
    (["--steps", "0"], "steps must be a positive integer"),
    (["--steps", "ten"], "invalid int value: 'ten'"),
    (["--lr", "-0.0001"], "lr: -0.0001 must be positive"),
    (["--clip-value", "0.1"], "clip_value"),
    (["--checkpoint-steps", "50"], "checkpoint_steps: 50 is outside the run"),
    (["--checkpoint-steps", "5,x"], "invalid int value: 'x'"),
    (["--betas", "0.5", "1.5"], "betas: (0.5, 1.5) must be two numbers in [0, 1)"),
    (["--dataset-options", "[1, 2]"], "expected a YAML mapping"),
    (["--critic-norm", "weird"], "critic_norm: unknown value 'weird'"),
    (["--config", "nowhere.yaml"], "nowhere.yaml"),
    (["--dataset", "mnist", "--data-root", "nowhere"], "nowhere/mnist"),
])
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, capsys, args, message):
    base = {"--dataset": "8gaussians", "--objective": "gan", "--steps": "10"}
    rest = []
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    if len(args) % 2:  # a flag with two values
        base[args[0]], rest = args[1], args[2:]
    flat = [x for kv in base.items() for x in kv]
    assert main(["train", *flat, *rest, "--run-dir", str(tmp_path / "run")]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unknown_flag_and_command_are_one_line(capsys):
    assert main(["train", "--dataset", "8gaussians", "--objective", "gan", "--learning-rate", "1"]) == 2
    assert "--learning-rate" in error_line(capsys)
    assert main(["fit"]) == 2
    assert "'fit'" in error_line(capsys)
    assert main(["train", "--plugin", "no_such_plugin.py", "--objective", "gan"]) == 2
    assert "no_such_plugin.py" in error_line(capsys)


def test_reference_twice_is_one_line_exit_2(tmp_path, capsys):
    args = ["reference", "--dataset", "25gaussians", "--n-real", "200", "--results-dir", str(tmp_path)]
    assert main(args) == 0
    path = capsys.readouterr().out.strip()
    assert path.startswith(str(tmp_path)) and path.endswith(".npz")
    assert main(args) == 2
    line = error_line(capsys)
    assert path in line and "exists" in line
    assert main([*args, "--overwrite"]) == 0


def test_score_through_the_front_door(tmp_path, capsys):
    import torch

    from gan.datasets import get_dataset
    from gan.sampling import save_samples

    ref = tmp_path / "ref.npz"
    assert main(["reference", "--dataset", "25gaussians", "--n-real", "1000", "--out", str(ref)]) == 0
    pts = get_dataset("25gaussians").sample(1000, torch.Generator().manual_seed(5)).numpy()
    samples = tmp_path / "s.npz"
    save_samples(samples, "points", pts, step=100, seed=3)
    out = tmp_path / "o.json"
    assert main(["score", "--samples", str(samples), "--reference", str(ref), "--out", str(out),
                 "--dataset", "25gaussians", "--objective", "gan", "--metrics", "w1,modes", "--metric-option", "w1_max_points=500"]) == 0
    scores = json.loads(out.read_text())
    assert scores["metrics"]["modes_covered"] == 25
    assert main(["score", "--samples", str(samples), "--reference", str(ref), "--out", str(out),
                 "--metrics", "nope"]) == 2
    assert "nope" in error_line(capsys)


def test_plugin_objective_trains_from_the_command_line(tmp_path):
    plugin = tmp_path / "hinge.py"
    plugin.write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from typing import ClassVar

        from gan.objectives import CriticStep, Objective, hyperparameter, positive, register_objective


        @register_objective
        @dataclass
        class HingeTest(Objective):
            name: ClassVar[str] = "hinge-test"
            margin: float = hyperparameter(1.0, "hinge margin of the test objective", positive)

            def critic_step(self, critic, real, fake):
                real_scores, fake_scores = critic(real), critic(fake)
                loss = (self.margin - real_scores).clamp(min=0).mean() + (self.margin + fake_scores).clamp(min=0).mean()
                return CriticStep(loss, real_scores, fake_scores)

            def generator_loss(self, fake_scores):
                return -fake_scores.mean()
    '''))
    help_text = gan("train", "--plugin", str(plugin), "--help").stdout
    assert "--margin" in help_text and "hinge-test" in help_text
    run = tmp_path / "run"
    out = gan("train", "--plugin", str(plugin), "--objective", "hinge-test", *TOY, "--steps", "3",
              "--margin", "0.5", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "finished"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["objective"] == "hinge-test" and summary["config"]["hyperparameters"]["margin"] == 0.5
    out = gan("train", "--objective", "hinge-test", *TOY, "--steps", "3", "--run-dir", str(tmp_path / "r2"))
    assert out.returncode == 2 and "hinge-test" in out.stderr and len(out.stderr.strip().splitlines()) == 1


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


@pytest.mark.parametrize("objectives", [["gan"], ["gan,wgan"], ["gan", "wgan"]])
def test_bench_reports_both_feeds(tmp_path, capsys, objectives):
    out = tmp_path / "bench.json"
    assert main(["bench", "--dataset", "digits", "--model", "dcgan", "--objectives", *objectives, "--steps", "2",
                 "--warmup", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == (1 if objectives == ["gan"] else 2)
    row = rows[0]
    assert row["it_per_s_in-memory"] > 0 and row["it_per_s_dataloader"] > 0
    assert row["speedup"] == pytest.approx(row["it_per_s_in-memory"] / row["it_per_s_dataloader"])
    # the hand-written loop of the same algorithm, side by side
    assert all(r["it_per_s_handwritten"] > 0 for r in rows)
    assert row["vs_handwritten"] == pytest.approx(row["it_per_s_in-memory"] / row["it_per_s_handwritten"])
    assert "hand-written it/s" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_times_evaluation_per_checkpoint_and_per_run_and_the_distance(tmp_path, capsys):
    from inception_standin import build_standin

    weights = build_standin(tmp_path / "inception-2015-12-05.pt")
    out = tmp_path / "bench.json"
    assert main(["bench", "--parts", "eval,fd", "--inception-weights", str(weights), "--eval-n", "40",
                 "--eval-checkpoints", "1", "--fd-n", "300", "--fd-dim", "512", "--device", "cpu",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    ev, fd = report["eval"], report["fd"]
    assert ev["s_per_checkpoint_per_checkpoint_jobs"] > 0 and ev["s_per_checkpoint_per_run_jobs"] > 0
    # exact against clean-fid's own frechet_distance (N = 300 < d = 512: singular covariances)
    assert fd["dim"] == 512 and fd["rel_diff"] < 1e-6 and fd["fd"] > 0
    printed = capsys.readouterr().out
    assert "per run" in printed and "clean-fid (scipy sqrtm)" in printed
    assert main(["bench", "--parts", "eval"]) == 2  # no weights: one error line


def test_bench_times_the_dry_run_of_a_config(tmp_path, capsys, monkeypatch):
    """`bench --dag`: the DAG build's wall and CPU time, where it belongs (a report, not a timed test)."""
    from workflow_helpers import copy_workflow

    monkeypatch.chdir(copy_workflow(tmp_path / "work"))
    out = tmp_path / "dag.json"
    assert main(["bench", "--dag", "config/smoke.yaml", "--repeats", "1", "--json", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["jobs"] > 0 and row["wall_s"] > 0 and row["cpu_s"] > 0
    assert f"{row['jobs']} jobs" in capsys.readouterr().out
