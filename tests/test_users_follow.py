"""A run you can follow (issue 23, item 2): every run's progress in one command, and what the workflow prints at its
end (its DAG test is tests/test_users_results.py: the message of a real run names files that exist)."""
from __future__ import annotations

import json

from gan.cli import main
from gan.layout import Layout
from gan.status import failure_message, run_progress, status_table, success_message
from gan.training import write_metrics


def _finished(layout: Layout, run: tuple[str, str, int], steps: int) -> None:
    files = layout.run(*run)
    files.dir.mkdir(parents=True)
    files.summary.write_text(json.dumps({"status": "finished", "steps": steps, "steps_done": steps,
                                         "wall_clock_s": 75.0}))


def test_status_shows_finished_training_and_waiting_runs(tmp_path):
    layout = Layout(str(tmp_path / "results/x"))
    _finished(layout, ("toy", "gan", 0), 100)
    training = layout.run("toy", "wgan", 0)
    training.dir.mkdir(parents=True)
    write_metrics(training.metrics, [{"step": 20, "time_s": 10.0}, {"step": 40, "time_s": 20.0}])
    with open(training.metrics, "a") as fh:  # a row being written as the status reads
        fh.write("60,30.")
    progress = run_progress(training.dir, 100)
    assert progress == {"status": "training", "step": 40, "steps": 100, "time_s": 20.0, "eta_s": 30.0}
    table = status_table(layout, [("toy", "gan", 0, 100), ("toy", "wgan", 0, 100), ("toy", "wgan-gp", 0, 100)])
    lines = table.splitlines()
    assert lines[0] == f"{layout.root}: 3 runs, 1 finished, 1 training, 1 waiting"
    assert lines[2].split() == ["toy/gan/seed0", "finished", "100/100", "1m15s"]
    assert lines[3].split() == ["toy/wgan/seed0", "training", "40/100", "20s", "30s"]
    assert lines[4].split() == ["toy/wgan-gp/seed0", "waiting"]


def test_status_command_reads_the_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"experiment": "e", "seeds": [0, 1], "objectives": ["gan"],
                                  "datasets": {"8gaussians": {"train": {"steps": 50}}}}))
    assert main(["status", "--configfile", str(config)]) == 2  # nothing ran yet: one line
    assert capsys.readouterr().err.startswith("error: no results folder results/e")
    _finished(Layout("results/e"), ("8gaussians", "gan", 1), 50)
    assert main(["status", "--configfile", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "results/e: 2 runs, 1 finished, 1 waiting"
    assert out[2].split() == ["8gaussians/gan/seed0", "waiting"]
    assert out[3].split()[:3] == ["8gaussians/gan/seed1", "finished", "50/50"]


def test_success_message_names_only_existing_files_and_the_mlflow_link(tmp_path):
    layout = Layout(str(tmp_path / "r"))
    tables = [layout.table("final_scores", f) for f in ("csv", "md")] + [layout.table("toy", "md")]
    figures = [layout.figure("a", "png"), layout.figure("a", "pdf"), layout.figure("b", "png")]
    for path in (tables[0], tables[1], figures[0], figures[1]):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    message = success_message(layout, tables, figures, ["--configfile", "c.yaml"], "status command")
    assert f"  tables:   {layout.table('final_scores', 'md')}\n" in message  # toy.md does not exist
    assert f"  figures:  1 PNG (and PDF) in {layout.root}/figures/\n" in message
    assert f"  report:   snakemake --configfile c.yaml --report {layout.report}\n" in message
    assert "MLflow" not in message  # no sync report: no link
    (tmp_path / layout.mlflow_synced).parent.mkdir(parents=True)
    (tmp_path / layout.mlflow_synced).write_text(json.dumps({"tracking_uri": "http://***@host:5000",
                                                             "ui_path": "#/experiments/3/runs"}))
    message = success_message(layout, tables, figures, [], "s")
    assert message.endswith("  MLflow:   http://host:5000/#/experiments/3/runs")


def test_failure_message_names_each_failed_job_and_its_log():
    message = failure_message([("train {'dataset': 'toy'}", ["results/x/logs/train/toy.log"]), ("all {}", [])],
                              "python -m gan status --configfile c.yaml")
    assert "  train {'dataset': 'toy'}: results/x/logs/train/toy.log\n" in message
    assert "  all {}: no log\n" in message and "python -m gan status --configfile c.yaml" in message
