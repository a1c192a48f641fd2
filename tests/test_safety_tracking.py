"""The MLflow mirror under faults (gan/tracking.py): a copied results folder cannot write into the original's
artifacts, a value changed on disk reaches the mirror, URI credentials are never written or printed, a manual sync
knows its experiment before provenance.json exists, and an unwritable mirror folder is one line."""
from __future__ import annotations

import json
import os
import shutil

import pytest

pytest.importorskip("mlflow")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from gan import atomic  # noqa: E402
from gan import tracking  # noqa: E402
from gan.cli import main as cli_main  # noqa: E402
from test_tracking import (EXPERIMENT, _no_env_uri, by_key, make_run, results, template_db,  # noqa: E402,F401
                           uri_of)
from mlflow_server import free_port  # noqa: E402

PASSWORD = "s3cret-Pa55"


def _snapshot(folder):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_copied_results_folder_cannot_sync_into_the_original(results, tmp_path, template_db):
    make_run(results)
    atomic.write_text(results / "tables" / "scores.csv", "objective,w1\nwgan-gp,0.25\n")
    tracking.sync(results, None, EXPERIMENT)
    copy = tmp_path / "copy" / "results"
    shutil.copytree(results, copy)
    atomic.write_text(copy / "tables" / "scores.csv", "objective,w1\nwgan-gp,999\n")  # the copy's own results
    original = _snapshot(results / "mlartifacts")
    with pytest.raises(tracking.TrackingError, match=rf"keeps its artifacts in {results.resolve()}/mlartifacts, "
                                                     rf"outside this results folder {copy.resolve()}"):
        tracking.sync(copy, None, EXPERIMENT)
    assert _snapshot(results / "mlartifacts") == original
    # the remedy the message gives: a fresh mirror of the copy, in the copy (renamed: this process's MLflow keeps
    # the deleted store's database open under its old URI)
    (copy / "mlflow.db").unlink()
    shutil.rmtree(copy / "mlartifacts")
    copy = copy.rename(tmp_path / "fresh")
    shutil.copyfile(template_db, copy / "mlflow.db")
    assert tracking.sync(copy, None, EXPERIMENT)["runs_created"] == 2
    assert _snapshot(results / "mlartifacts") == original
    assert "999" in next((copy / "mlartifacts").rglob("scores.csv")).read_text()


def test_a_value_changed_on_disk_reaches_the_mirror(results):
    run_dir = make_run(results)
    tracking.sync(results, None, EXPERIMENT)
    path = tracking.RunFiles(run_dir).scores(100)
    score = atomic.read_json(path)
    score["metrics"]["w1"] = 0.125  # a rescore after a fix
    atomic.write_json(path, score)
    report = tracking.sync(results, None, EXPERIMENT)
    assert report["metric_points_changed"] == 1 and report["metric_points_added"] == 0
    client = MlflowClient(uri_of(results))
    (run,) = by_key(client)["gaussians8/wgan-gp/seed0"]
    assert run.data.metrics["score/w1"] == 0.125
    again = tracking.sync(results, None, EXPERIMENT)
    assert (again["metric_points_changed"], again["metric_points_added"]) == (0, 0)


def test_redact():
    from gan.provenance import config_hash, redact

    assert redact("http://alice:pw@host:5000/x") == "http://***@host:5000/x"
    assert redact("https://token@host") == "https://***@host"
    assert redact("sqlite:////tmp/a@b/mlflow.db") == "sqlite:////tmp/a@b/mlflow.db"
    config = {"experiment": "e", "mlflow": {"tracking_uri": f"http://alice:{PASSWORD}@host"}}
    assert PASSWORD not in json.dumps(redact(config))
    assert config_hash(config) == config_hash(redact(config))  # the hash is of what is written
    plain = {"experiment": "e", "seeds": [0]}
    assert config_hash(plain) == config_hash(dict(plain))


def test_uri_credentials_are_never_written_or_printed(results, tmp_path, monkeypatch, capsys):
    make_run(results)
    secret_uri = f"http://alice:{PASSWORD}@mlflow.example:5000"
    real, local = mlflow.MlflowClient, uri_of(results)
    # the "server" is the local store: what the sync writes and prints is what is checked
    monkeypatch.setattr(mlflow, "MlflowClient", lambda tracking_uri=None, **kw: real(tracking_uri=local))
    monkeypatch.chdir(tmp_path)  # a remote store's default artifact root (./mlruns) lands here
    report = tracking.sync(results, secret_uri, EXPERIMENT)
    assert report["tracking_uri"] == "http://***@mlflow.example:5000"
    atomic.write_json(results / "mlflow" / "synced.json", report)  # as the mlflow_sync rule does
    monkeypatch.setenv("MLFLOW_TRACKING_URI", secret_uri)
    assert cli_main(["mlflow-sync", "--results-dir", str(results), "--experiment", EXPERIMENT]) == 0
    printed = capsys.readouterr()
    assert "training runs: http://mlflow.example:5000/#/experiments/" in printed.out
    # a server that is down: the error names the server, not the password
    monkeypatch.setattr(mlflow, "MlflowClient", real)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    dead = f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    assert cli_main(["mlflow-sync", "--results-dir", str(results), "--experiment", EXPERIMENT]) == 1
    printed = printed.out + printed.err + "".join(capsys.readouterr())
    assert "http://***@127.0.0.1" in printed and PASSWORD not in printed
    written = [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert written == []


def test_manual_sync_before_provenance_takes_the_experiment_from_the_config(results, tmp_path, capsys):
    make_run(results)
    assert cli_main(["mlflow-sync", "--results-dir", str(results)]) == 2  # no guess into a stray experiment
    err = capsys.readouterr().err
    assert err.startswith("error: which MLflow experiment?") and "--configfile" in err and len(err.splitlines()) == 1
    config = tmp_path / "bench.yaml"
    config.write_text("experiment: from-the-config\nseeds: [0]\n")
    assert cli_main(["mlflow-sync", "--results-dir", str(results), "--configfile", str(config)]) == 0
    client = MlflowClient(uri_of(results))
    assert client.get_experiment_by_name("from-the-config") is not None
    assert client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT) is None


def test_unwritable_mirror_folder_is_one_line(results, capsys):
    make_run(results)
    (results / "mlflow").write_text("not a folder")  # as a read-only results folder would: the lock cannot be made
    assert cli_main(["mlflow-sync", "--results-dir", str(results), "--experiment", EXPERIMENT]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot take the sync lock {results}/mlflow/sync.lock") and len(err.splitlines()) == 1


def test_a_failed_sync_chains_no_credentials(results, monkeypatch):
    import traceback

    make_run(results)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(tracking.TrackingError) as err:
        tracking.sync(results, f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}", EXPERIMENT)
    printed = "".join(traceback.format_exception(err.value))  # what the mlflow_sync rule's log receives
    assert "http://***@127.0.0.1" in printed and PASSWORD not in printed
    with pytest.raises(tracking.TrackingError) as err:  # no credentials: MLflow's error stays chained
        tracking.sync(results, f"http://127.0.0.1:{free_port()}", EXPERIMENT)
    assert err.value.__cause__ is not None
