"""Several benchmarks in one checkout, and a changed setting that keeps the finished run (issue 23, item 1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from workflow_helpers import SIDE_STAGES_OFF, ROOT, complete_config, copy_workflow, snakemake, write_config

from gan.grid import BenchmarkGrid
from gan.layout import Layout, results_root
from gan.runs import settings_hash
from gan.schema import default


def tiny(experiment: str, lr: float = 1e-3) -> dict:
    """A config of one toy run, two checkpoints: the whole DAG in well under a minute."""
    return {
        "experiment": experiment, "seeds": [0], "objectives": ["wgan-gp"],
        "objective_settings": {"wgan-gp": {"lr": lr, "betas": [0.5, 0.9]}},
        "datasets": {"8gaussians": {"train": {"model": "toy", "width": 16, "steps": 40, "batch_size": 64,
                                              "log_every": 10},
                                    "checkpoint_steps": [20, 40], "samples": 200, "n_real": 200}},
        "scoring": {"floor_repeats": 2},
        "mlflow": {"enabled": False},
        **SIDE_STAGES_OFF,
    }


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_end_message_names_existing_files(stderr: str, work: Path, layout: Layout, config: Path) -> None:
    """The onsuccess message: tables and figures that exist, the report and status commands of this config."""
    message = stderr[stderr.index("Finished. Results of this config:"):]
    lines = dict(line.strip().split(":", 1) for line in message.splitlines()[1:] if ":" in line and
                 line.startswith("  "))
    tables = lines["tables"].split()
    assert f"{layout.table('final_scores', 'md')}" in tables and all((work / t).is_file() for t in tables)
    folder = lines["figures"].split(" in ")[1].strip().rstrip("/")
    assert folder == f"{layout.root}/figures" and list((work / folder).glob("*.png"))
    assert lines["report"].strip() == (f"snakemake --configfile {config} --replace-workflow-config "
                                       f"--report {layout.report}")
    status = lines["runs"].strip()
    assert status == f"python -m gan status --configfile {config}"
    out = subprocess.run([sys.executable, *status.split()[1:]], cwd=work, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "1 runs, 1 finished" in out.stdout and "8gaussians/wgan-gp/seed0  finished  40/40" in out.stdout


def test_each_experiment_has_its_own_results_folder():
    assert default("results_dir") == "results/{experiment}"
    for experiment in ("gan-bench-smoke", "gan-bench-toy"):
        grid = BenchmarkGrid(tiny(experiment))
        assert grid.layout.root == f"results/{experiment}" == results_root(default("results_dir"), experiment)
        assert grid.layout.run_dir("8gaussians", "wgan-gp", 0).startswith(f"results/{experiment}/runs/")
    # a results_dir of the user's own is taken as given
    assert BenchmarkGrid({**tiny("x"), "results_dir": "elsewhere"}).layout.root == "elsewhere"


def test_two_configs_side_by_side_and_a_changed_setting_keeps_the_finished_run(tmp_path):
    work = copy_workflow(tmp_path / "work")
    first = write_config(work, "first.yaml", tiny("first")).relative_to(work)
    proc = snakemake(work, "--cores", "2", *complete_config(first))
    a = Layout("results/first")
    run_a = work / a.run_dir("8gaussians", "wgan-gp", 0)
    before = files_of(work / a.root)
    assert (run_a / "summary.json").is_file() and (work / a.table("final_scores", "csv")).is_file()
    assert_end_message_names_existing_files(proc.stderr, work, a, first)

    # a second config in the same checkout: its own folder, the first one's files untouched
    second = write_config(work, "second.yaml", tiny("second")).relative_to(work)
    snakemake(work, "--cores", "2", *complete_config(second))
    b = Layout("results/second")
    assert (work / b.run_dir("8gaussians", "wgan-gp", 0) / "summary.json").is_file()
    for name in ("final_scores", "pairwise"):
        assert (work / b.table(name, "csv")).is_file()
    assert files_of(work / a.root) == before
    assert not (work / b.root / "replaced").exists()

    # a changed hyper-parameter: Snakemake reruns train (params changed); the finished run is kept, byte for byte
    old_config = json.loads((run_a / "summary.json").read_text())["config"]
    write_config(work, "first.yaml", tiny("first", lr=5e-4))
    proc = snakemake(work, "--cores", "2", *complete_config(first))
    kept = work / a.set_aside("8gaussians", "wgan-gp", 0, settings_hash(old_config))
    assert f"kept a replaced run: {a.run_dir('8gaussians', 'wgan-gp', 0)} -> {kept.relative_to(work)}" in proc.stderr
    assert "settings changed: hyperparameters" in proc.stderr
    run_files = {k[len("runs/8gaussians/wgan-gp/seed0/"):]: v for k, v in before.items()
                 if k.startswith("runs/8gaussians/wgan-gp/seed0/")}
    assert {"summary.json", "metrics.csv", "checkpoints/step0000040.pt"} <= set(run_files)
    assert {k: v for k, v in files_of(kept).items() if k in run_files} == run_files
    new = json.loads((run_a / "summary.json").read_text())
    assert new["status"] == "finished" and new["config"]["hyperparameters"]["lr"] == 5e-4
    scores = pd.read_csv(work / a.aggregate("scores"))
    assert set(scores["step"]) == {20, 40}  # the tables are the new run's, not a mix
    # the same settings again: nothing to do, nothing moved
    proc = snakemake(work, "--cores", "2", *complete_config(first))
    assert "kept a replaced run" not in proc.stderr
    assert len(list((work / a.root / "replaced/8gaussians/wgan-gp").iterdir())) == 1
