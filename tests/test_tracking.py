"""MLflow mirror: the sync from files is MLflow's only writer. Idempotence, parent/children, training times,
sample pictures per step, a dead server then a later sync, concurrent syncs, the CLI."""
from __future__ import annotations

import csv
import io as _io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402

from gan import atomic as gio  # noqa: E402
from gan import tracking  # noqa: E402
from gan.cli import main as cli_main  # noqa: E402
from gan.layout import Layout  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from mlflow_server import free_port, running_mlflow_server  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "gan-bench-test"
CSV_COLUMNS = ["step", "time_s", "loss_d", "loss_g", "wasserstein", "gp",
               "grad_norm_d", "grad_norm_g", "d_real", "d_fake"]
CONFIG = {"lr": 1e-4, "betas": [0.5, 0.9], "model": {"name": "mlp", "hidden": 64}, "steps": 200,
          "checkpoint_steps": [100, 200]}
END = 1_700_000_000.0  # summary.json's mtime: the end of training
WALL = 12.5


@pytest.fixture(autouse=True)
def _no_env_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """An empty store with MLflow's schema, made once: creating the schema takes seconds."""
    root = tmp_path_factory.mktemp("template")
    MlflowClient(tracking.resolve_tracking_uri(None, root)).search_experiments()
    return root / "mlflow.db"


@pytest.fixture
def results(tmp_path, template_db) -> Path:
    """tmp_path/results with an empty embedded store (a copy of the template: same as a fresh one)."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copyfile(template_db, Layout(str(results)).mlflow_db)
    return results


def uri_of(results: Path) -> str:
    return tracking.resolve_tracking_uri(None, results)


# ---- fake result files (CONTRACTS.md layout) ---------------------------------------------------

def tiny_png() -> bytes:
    from PIL import Image

    buf = _io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def metric_rows(objective: str, steps: range) -> list[dict]:
    return [{"step": s, "time_s": WALL * s / steps[-1], "loss_d": 1.0 / s, "loss_g": -1.0 / s,
             "wasserstein": "" if objective == "gan" else 0.5 / s, "gp": 0.01 * s if objective == "wgan-gp" else "",
             "grad_norm_d": 2.0, "grad_norm_g": 3.0, "d_real": 0.6, "d_fake": 0.4} for s in steps]


def make_run(results: Path, dataset="gaussians8", objective="wgan-gp", seed=0, steps=range(10, 210, 10),
             end=END) -> Path:
    files = Layout(str(results)).run(dataset, objective, seed)
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(metric_rows(objective, steps))
    gio.write_text(files.metrics, buf.getvalue())
    protocol = {"n_gen": 1000, "n_real": 1000, "split": "test", "mode": "exact", "extractor": "points", "seed": 0}
    ident = {"dataset": dataset, "objective": objective, "seed": seed}
    gio.write_json(files.scores(100), {**ident, "step": 100, "status": "ok", "reason": None,
                                       "metrics": {"w1": 0.25, "mmd": 0.01}, "protocol": protocol})
    gio.write_json(files.scores(200), {**ident, "step": 200, "status": "missing", "reason": "diverged at step 150",
                                       "metrics": {}, "protocol": protocol})
    os.utime(files.scores(100), (end + 5, end + 5))
    os.utime(files.scores(200), (end + 6, end + 6))
    gio.write_bytes(files.picture(100), tiny_png())
    gio.write_json(files.summary, {
        "status": "finished", "steps": steps[-1], "steps_done": steps[-1], "diverged_step": None,
        "wall_clock_s": WALL, **ident, "model": "mlp", "config": dict(CONFIG, **ident), "config_hash": "abc123",
        "versions": {"torch": "2.14.1", "python": "3.11.7"}, "device": "cpu:x86_64",
        "git": {"commit": "deadbeef" * 5, "dirty": False}, "checkpoints": {"100": "checkpoints/step0000100.pt"}})
    os.utime(files.summary, (end, end))
    return files.dir


def experiment_runs(client: MlflowClient, view=ViewType.ALL) -> list:
    exp = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([exp.experiment_id], run_view_type=view, max_results=1000)


def by_key(client: MlflowClient) -> dict[str, list]:
    out: dict[str, list] = {}
    for run in experiment_runs(client):
        out.setdefault(run.data.tags[tracking.KEY_TAG], []).append(run)
    return out


def image_steps(client: MlflowClient, run_id: str, key: str = "samples") -> list[int]:
    """Steps of the images logged under `key`, as MLflow's UI finds them: one full-size PNG and one compressed WebP
    per step, named images/{key}+step+{step}+timestamp+{ms}+{uuid}[+compressed]."""
    full, small = [], []
    for f in client.list_artifacts(run_id, "images"):
        m = re.fullmatch(rf"{re.escape(key)}\+step\+(\d+)\+timestamp\+\d+\+[\w-]+(\+compressed)?\.(png|webp)",
                         Path(f.path).name)
        assert m, f.path
        (small if m[2] else full).append(int(m[1]))
    assert sorted(full) == sorted(small), (full, small)
    return sorted(full)


def histories(client: MlflowClient, run) -> dict[str, list[int]]:
    return {k: sorted(m.step for m in client.get_metric_history(run.info.run_id, k)) for k in run.data.metrics}


def expected_points(objective: str, steps: range) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in metric_rows(objective, steps):
        for k, v in row.items():
            if k != "step" and v != "":
                out.setdefault(f"train/{k}", []).append(row["step"])
    return out


# ---- unit bits -----------------------------------------------------------------------------------

def test_resolve_tracking_uri(tmp_path, monkeypatch):
    assert tracking.resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.resolve_tracking_uri("http://x:5000", tmp_path) == "http://x:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert tracking.resolve_tracking_uri("http://x:5000", tmp_path) == "http://env:1"


def test_flatten_params():
    flat = tracking.flatten_params(CONFIG)
    assert flat["model.hidden"] == "64" and flat["betas"] == "[0.5, 0.9]" and flat["lr"] == "0.0001"
    assert tracking.flatten_params({"a": {}, "b": None}) == {"a": "{}", "b": "None"}


def test_read_run_takes_identity_and_times_from_the_files(tmp_path):
    results = tmp_path / "results"
    run_dir = make_run(results, dataset="ring", objective="gan", seed=3)
    # moved to a folder whose name says nothing: identity still comes from summary.json
    elsewhere = tmp_path / "somewhere"
    shutil.copytree(run_dir, elsewhere)
    os.utime(elsewhere / "summary.json", (END, END))
    run = tracking.read_run(elsewhere)
    assert run["key"] == "ring/gan/seed3" and run["tags"]["seed"] == "3"
    start = END - WALL  # no start timestamp in summary.json: mtime - wall_clock_s
    assert run["start_ms"] == round(start * 1000) and run["end_ms"] == round(END * 1000)
    times = {m.step: m.timestamp for m in run["metrics"] if m.key == "train/loss_d"}
    for row in metric_rows("gan", range(10, 210, 10)):
        assert times[row["step"]] == round((start + row["time_s"]) * 1000)
    assert {m.timestamp for m in run["metrics"] if m.key == "score/w1"} == {round((END + 5) * 1000)}
    assert run["tags"][tracking.GIT_TAG] == "deadbeef" * 5
    # an explicit start timestamp wins
    summary = gio.read_json(elsewhere / "summary.json")
    gio.write_json(elsewhere / "summary.json", {**summary, "started_at": "2024-01-02T03:04:05+00:00"})
    assert tracking.read_run(elsewhere)["start_ms"] == 1704164645000
    with pytest.raises(FileNotFoundError, match="not finished"):
        tracking.read_run(tmp_path / "nothing")


# ---- the sync --------------------------------------------------------------------------------------

def test_sync_mirrors_files_with_parent_children_and_training_times(results):
    make_run(results, objective="wgan-gp", seed=0)
    make_run(results, objective="gan", seed=1, end=END + 100)
    gio.write_bytes(results / "figures" / "curves.png", tiny_png())
    gio.write_text(results / "tables" / "scores.csv", "objective,fid\nwgan,1.0\n")
    gio.write_json(results / "provenance.json", {"git": "x"})
    report = tracking.sync(results, None, EXPERIMENT)
    assert report["runs"] == 2 and report["runs_created"] == 3

    client = MlflowClient(uri_of(results))
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert exp.artifact_location.startswith(str(results.resolve() / "mlartifacts"))
    runs = by_key(client)
    assert sorted(runs) == ["benchmark", "gaussians8/gan/seed1", "gaussians8/wgan-gp/seed0"]
    assert all(len(v) == 1 for v in runs.values())
    (parent,) = runs["benchmark"]
    assert parent.info.status == "FINISHED" and parent.info.run_name == EXPERIMENT
    assert parent.info.start_time == round((END - WALL) * 1000) and parent.info.end_time == round((END + 100) * 1000)
    assert {f.path for f in client.list_artifacts(parent.info.run_id)} == {"figures", "tables", "provenance.json"}
    assert [f.path for f in client.list_artifacts(parent.info.run_id, "figures")] == ["figures/curves.png"]
    for objective, seed, end in (("wgan-gp", 0, END), ("gan", 1, END + 100)):
        (run,) = runs[f"gaussians8/{objective}/seed{seed}"]
        tags = run.data.tags
        assert tags[tracking.PARENT_TAG] == parent.info.run_id
        assert tags["mlflow.source.git.commit"] == "deadbeef" * 5 and "git_commit" not in tags
        assert tags["mlflow.source.name"] == "gan-bench" and tags["mlflow.source.type"] == "LOCAL"
        assert tags["dataset"] == "gaussians8" and tags["seed"] == str(seed) and tags["status"] == "finished"
        assert tags["run_dir"] == f"runs/gaussians8/{objective}/seed{seed}"
        assert "diverged at step 150" in tags["scores.missing"]
        assert run.info.status == "FINISHED"
        assert run.info.start_time == round((end - WALL) * 1000) and run.info.end_time == round(end * 1000)
        hist = histories(client, run)
        for key, want in expected_points(objective, range(10, 210, 10)).items():
            assert hist[key] == want, key
        assert hist["score/w1"] == [100] and hist["summary/wall_clock_s"] == [200]
        if objective == "gan":
            assert "train/wasserstein" not in hist and "train/gp" not in hist
        # every point at its real training time: start + time_s of metrics.csv
        points = client.get_metric_history(run.info.run_id, "train/time_s")
        assert {m.step: m.timestamp for m in points} == {
            m.step: round((end - WALL) * 1000 + m.value * 1000) for m in points}
        assert run.data.params["model.hidden"] == "64" and run.data.params["protocol.n_gen"] == "1000"
        assert image_steps(client, run.info.run_id) == [100]  # the only picture make_run writes


def test_second_sync_adds_nothing_and_a_new_run_is_added(results):
    make_run(results, objective="wgan-gp", seed=0)
    make_run(results, objective="gan", seed=1)
    tracking.sync(results, None, EXPERIMENT)
    client = MlflowClient(uri_of(results))
    snapshot = {r.info.run_id: (histories(client, r), r.data.params, r.data.tags, r.info.end_time)
                for r in experiment_runs(client)}

    again = tracking.sync(results, None, EXPERIMENT)
    assert (again["runs_created"], again["metric_points_added"], again["params_added"]) == (0, 0, 0)
    assert again["artifacts_added"] == 0  # no benchmark files here; the runs' summaries are already there
    assert again["images_added"] == 0
    runs = experiment_runs(client)
    assert len(runs) == 3
    for run in runs:
        assert (histories(client, run), run.data.params, run.data.tags, run.info.end_time) == snapshot[run.info.run_id]

    make_run(results, objective="wgan", seed=2)  # a run finished later: only it is added
    third = tracking.sync(results, None, EXPERIMENT, runs=[("gaussians8", "wgan", 2)])
    assert third["runs"] == 1 and third["runs_created"] == 1
    assert sorted(by_key(client)) == ["benchmark", "gaussians8/gan/seed1", "gaussians8/wgan-gp/seed0",
                                      "gaussians8/wgan/seed2"]


def test_sample_pictures_are_images_by_step_logged_once(results):
    make_run(results, objective="wgan-gp", seed=0)  # a picture at step 100 only
    diverged = make_run(results, objective="wgan", seed=1)
    summary = gio.read_json(diverged / "summary.json")
    gio.write_json(diverged / "summary.json",
                   {**summary, "status": "diverged", "steps_done": 150, "diverged_step": 150})
    files = Layout(str(results)).run("gaussians8", "wgan", 1)
    gio.write_bytes(files.picture(200), tiny_png())  # the "no samples" picture of a step it never reached
    report = tracking.sync(results, None, EXPERIMENT)
    assert report["images_added"] == 2
    client = MlflowClient(uri_of(results))
    runs = {k: v[0] for k, v in by_key(client).items()}
    ids = {key: runs[key].info.run_id for key in ("gaussians8/wgan-gp/seed0", "gaussians8/wgan/seed1")}
    assert image_steps(client, ids["gaussians8/wgan-gp/seed0"]) == [100]
    assert image_steps(client, ids["gaussians8/wgan/seed1"]) == [100]
    assert all(runs[key].data.tags.get("mlflow.loggedImages") == "True" for key in ids)  # the UI's image section
    experiment_id = runs["benchmark"].info.experiment_id
    assert report["ui_path"] == f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"

    assert tracking.sync(results, None, EXPERIMENT)["images_added"] == 0  # a second sync logs none again
    assert image_steps(client, ids["gaussians8/wgan-gp/seed0"]) == [100]
    # a picture that appears later (its sample job ran after the sync) is added alone
    gio.write_bytes(Layout(str(results)).run("gaussians8", "wgan-gp", 0).picture(200), tiny_png())
    assert tracking.sync(results, None, EXPERIMENT)["images_added"] == 1
    assert image_steps(client, ids["gaussians8/wgan-gp/seed0"]) == [100, 200]
    assert image_steps(client, ids["gaussians8/wgan/seed1"]) == [100]
    assert not any(f.path == "samples" for rid in ids.values() for f in client.list_artifacts(rid))


def test_previews_are_the_step_images_and_the_evaluation_pictures_artifacts(results):
    """A run whose training drew previews (step 0 and every checkpoint): they are its step images, from step 0 where
    MLflow's image card opens, and the evaluation's pictures go along as plain artifacts (one picture per step)."""
    files = Layout(str(results)).run("gaussians8", "wgan-gp", 0)
    make_run(results)  # an evaluation picture at step 100; checkpoint_steps 100, 200
    make_run(results, objective="wgan", seed=1)  # no previews: trained before they existed
    for step in (0, 100, 200):
        gio.write_bytes(files.preview(step), tiny_png())
    report = tracking.sync(results, None, EXPERIMENT)
    assert (report["images_added"], report["artifacts_added"]) == (3 + 1, 2 + 1)  # + 2 summary.json
    client = MlflowClient(uri_of(results))
    runs = {k: v[0].info.run_id for k, v in by_key(client).items()}
    with_previews, old = runs["gaussians8/wgan-gp/seed0"], runs["gaussians8/wgan/seed1"]
    assert image_steps(client, with_previews) == [0, 100, 200]
    assert [f.path for f in client.list_artifacts(with_previews, "samples")] == ["samples/step0000100.png"]
    assert image_steps(client, old) == [100] and not client.list_artifacts(old, "samples")
    again = tracking.sync(results, None, EXPERIMENT)
    assert (again["images_added"], again["artifacts_added"]) == (0, 0)  # a second sync adds nothing
    assert image_steps(client, with_previews) == [0, 100, 200]
    assert len(client.list_artifacts(with_previews, "samples")) == 1


def test_changed_param_value_does_not_crash(results, caplog):
    run_dir = make_run(results)
    tracking.sync(results, None, EXPERIMENT)
    summary = gio.read_json(run_dir / "summary.json")
    summary["config"]["lr"] = 0.5
    gio.write_json(run_dir / "summary.json", summary)
    with caplog.at_level(logging.WARNING, logger="gan.tracking"):
        assert tracking.sync(results, None, EXPERIMENT)["runs_created"] == 0
    (run,) = by_key(MlflowClient(uri_of(results)))["gaussians8/wgan-gp/seed0"]
    assert run.data.params["lr"] == "0.0001" and run.data.tags["param_changed.lr"] == "0.5"
    assert "differ" in caplog.text


def test_dead_server_costs_nothing_then_a_later_sync_fills_in(results):
    make_run(results, objective="wgan", seed=4)
    before = {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}
    dead = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(tracking.TrackingError, match="result files untouched"):
        tracking.sync(results, dead, EXPERIMENT)
    assert time.monotonic() - t0 < 60
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # scoped, not leaked
    after = {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file() and p.name != "sync.lock"}
    assert after == before

    tracking.sync(results, None, EXPERIMENT)
    client = MlflowClient(uri_of(results))
    (run,) = by_key(client)["gaussians8/wgan/seed4"]
    hist = histories(client, run)
    for key, want in expected_points("wgan", range(10, 210, 10)).items():
        assert hist[key] == want
    assert hist["score/w1"] == [100]


def test_cli(results, capsys):
    make_run(results)
    gio.write_json(results / "provenance.json", {"config": {"experiment": EXPERIMENT}})
    for _ in range(2):
        assert cli_main(["mlflow-sync", "--results-dir", str(results)]) == 0  # experiment from provenance.json
    out = capsys.readouterr().out
    assert "0 metric points added" in out
    # where the UI shows the training runs (MLflow 3.17 opens a bare experiment address on its GenAI overview)
    experiment_id = MlflowClient(uri_of(results)).get_experiment_by_name(EXPERIMENT).experiment_id
    assert f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?workflowType=machine_learning" in out
    client = MlflowClient(uri_of(results))
    assert {k: len(v) for k, v in by_key(client).items()} == {"benchmark": 1, "gaussians8/wgan-gp/seed0": 1}
    assert cli_main(["mlflow-sync", "--results-dir", str(results / "nope")]) == 2
    assert "no results folder" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}"
    assert cli_main(["mlflow-sync", "--results-dir", str(results), "--tracking-uri", dead]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MLflow sync to") and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # a real server
def test_sync_to_a_basic_auth_server_with_credentials_from_env(results, tmp_path, monkeypatch):
    """README's shared server, `mlflow server --app-name basic-auth`: MLflow's client reads the credentials from
    MLFLOW_TRACKING_USERNAME/PASSWORD, for the REST calls and the proxied artifact uploads alike."""
    pytest.importorskip("flask_wtf", reason="the basic-auth app needs mlflow[auth]")
    password = "long-enough-test-password"
    auth_ini = tmp_path / "auth.ini"  # README's: users in a file beside the server, credential checks cached
    auth_ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{tmp_path}/basic_auth.db\n"
                        "admin_username = admin\nauth_cache_ttl_seconds = 300\n")
    server_env = {"MLFLOW_AUTH_CONFIG_PATH": str(auth_ini), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                  "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-secret"}
    make_run(results)
    with running_mlflow_server(tmp_path, app_name="basic-auth", env=server_env) as uri:
        with pytest.raises(tracking.TrackingError, match="result files untouched"):  # no credentials: refused
            tracking.sync(results, uri, EXPERIMENT)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        report = tracking.sync(results, uri, EXPERIMENT)
        assert (report["runs_created"], report["images_added"], report["artifacts_added"]) == (2, 1, 1)
        again = tracking.sync(results, uri, EXPERIMENT)
        assert (again["runs_created"], again["metric_points_added"], again["images_added"]) == (0, 0, 0)
        client = MlflowClient(uri)
        (run,) = by_key(client)["gaussians8/wgan-gp/seed0"]
        assert image_steps(client, run.info.run_id) == [100]


# ---- concurrent syncs --------------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import mlflow
    from gan import tracking
    results, experiment, idx, start_dir = sys.argv[1:5]
    (Path(start_dir) / f"ready{idx}").touch()
    deadline = time.monotonic() + 120
    while not (Path(start_dir) / "go").exists():  # start together: imports take seconds and would stagger us
        assert time.monotonic() < deadline, "never told to go"
        time.sleep(0.02)
    print(tracking.sync(results, None, experiment))
""")


@pytest.mark.slow  # 3 interpreters importing MLflow on 2 shared cores
def test_concurrent_syncs_create_no_duplicate_runs(tmp_path):
    results = tmp_path / "results"  # a fresh store: the three also race to create its schema
    for seed in range(3):
        make_run(results, objective="wgan-gp", seed=seed)
    start_dir = tmp_path / "start"
    start_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(results), EXPERIMENT, str(i), str(start_dir)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(3)]
    try:
        deadline = time.monotonic() + 180
        while len(list(start_dir.glob("ready*"))) < 3 and not any(p.poll() is not None for p in procs):
            assert time.monotonic() < deadline, "workers never got ready"
            time.sleep(0.1)
        (start_dir / "go").touch()
        outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    client = MlflowClient(uri_of(results))
    runs = by_key(client)
    assert {k: len(v) for k, v in runs.items()} == {"benchmark": 1, **{f"gaussians8/wgan-gp/seed{s}": 1
                                                                      for s in range(3)}}
    assert sum("'runs_created': 4" in out for out in outputs) == 1  # one created them all, the others added nothing
    for run in experiment_runs(client):
        for key, steps in histories(client, run).items():
            assert len(steps) == len(set(steps)), key
