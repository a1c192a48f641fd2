"""Every file read back is checked (gan/atomic.py): a damaged score file, summary, prepared dataset, reference or
samples file is one line naming it and which file to delete so that the workflow makes it again; aggregate never
turns a damaged score file into a legitimate-looking "missing". Result files follow the user's umask."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from gan import atomic
from gan.atomic import UnreadableFile
from gan.layout import RunFiles


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture
def run(tmp_path):
    """A finished run with two scored checkpoints."""
    files = RunFiles(tmp_path / "runs" / "8gaussians" / "wgan" / "seed0")
    atomic.write_json(files.summary, {
        "status": "finished", "steps": 20, "steps_done": 20, "diverged_step": None, "wall_clock_s": 2.0,
        "started_at": 1.0e9, "seed": 0, "dataset": "8gaussians", "objective": "wgan", "model": "toy",
        "device": "cpu", "config": {"checkpoint_steps": [10, 20]},
        "checkpoints": {"10": "checkpoints/step0000010.pt", "20": "checkpoints/step0000020.pt"}})
    for step in (10, 20):
        atomic.write_json(files.scores(step), {
            "dataset": "8gaussians", "objective": "wgan", "seed": 0, "step": step, "status": "ok", "reason": None,
            "kind": "points", "metrics": {"w1": 0.5 / step}, "protocol": {"n_gen": 100, "eval_seed": 1}})
    atomic.write_json(files.scores_index, {"steps": {}})
    return files


def test_truncated_score_file_fails_aggregate_naming_it_and_the_remedy(run, tmp_path):
    from gan.report.aggregate import aggregate_results, collect_scores

    assert collect_scores([run.dir])["status"].tolist() == ["ok", "ok"]
    _truncate(run.scores(20))
    with pytest.raises(UnreadableFile) as err:
        collect_scores([run.dir])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{run.scores(20)} is unreadable (not valid JSON")
    assert f"delete {run.scores(20)} and {run.scores_index}" in message and "`score` job" in message
    with pytest.raises(UnreadableFile):
        aggregate_results([run.dir], tmp_path / "tables")
    assert not (tmp_path / "tables" / "scores.csv").exists()  # no table with a made-up "missing" row


@pytest.mark.parametrize("content", ["[1, 2]", '{"dataset": "8gaussians"}'])
def test_score_file_without_its_fields_is_unreadable_too(run, content):
    from gan.report.aggregate import collect_scores

    run.scores(10).write_text(content)
    with pytest.raises(UnreadableFile, match=rf"^{run.scores(10)} is unreadable"):
        collect_scores([run.dir])


def test_corrupt_summary_is_one_line_naming_the_train_job(run):
    from gan.report.aggregate import collect_runs

    _truncate(run.summary, 0.3)
    with pytest.raises(UnreadableFile, match=rf"^{run.summary} is unreadable \(not valid JSON.*\): delete "
                                             rf"{run.summary}, then run the workflow again: its `train` job"):
        collect_runs([run.dir])


def test_mlflow_reading_a_truncated_score_file_is_one_line(run):
    pytest.importorskip("mlflow")
    from gan.tracking import read_run

    assert read_run(run.dir)["key"] == "8gaussians/wgan/seed0"
    _truncate(run.scores(10))
    with pytest.raises(UnreadableFile, match=rf"^{run.scores(10)} is unreadable .*`score` job"):
        read_run(run.dir)


def test_corrupt_prepared_dataset_is_one_line(tmp_path):
    from gan.datasets import dataset_spec, load_prepared, prepare_dataset

    path = tmp_path / "data" / "8gaussians.pt"
    prepare_dataset(dataset_spec("8gaussians"), tmp_path / "downloads", path)
    assert load_prepared(path).kind == "points"
    _truncate(path)
    with pytest.raises(UnreadableFile, match=rf"^{path} is unreadable \(not a readable torch file.*\): delete "
                                             rf"{path}, then run the workflow again: its `prepare_data` job"):
        load_prepared(path)
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(UnreadableFile, match="prepare_data"):
        load_prepared(path)


def _reference(path):
    atomic.save_npz(path, meta=np.array(json.dumps({"kind": "points"})), mu=np.zeros(3), sigma=np.eye(3))


def test_corrupt_reference_is_one_line_never_suggesting_pickle(tmp_path):
    from gan.metrics import load_reference

    path = tmp_path / "ref.npz"
    _reference(path)
    assert load_reference(path).meta == {"kind": "points"}
    _truncate(path)
    with pytest.raises(UnreadableFile, match=rf"^{path} is unreadable .*its `reference` job") as err:
        load_reference(path)
    assert "allow_pickle" not in str(err.value)
    # an npz holding a pickled object: numpy's own error would advise allow_pickle=True
    np.savez(path, meta=np.array(json.dumps({})), evil=np.array([object()], dtype=object))
    with pytest.raises(UnreadableFile, match="holds Python objects besides arrays and tensors, which are never unpickled") as err:
        load_reference(path)
    assert "allow_pickle" not in str(err.value)


def test_truncated_samples_file_names_the_sample_index(tmp_path):
    from gan.sampling import load_samples, save_samples

    files = RunFiles(tmp_path / "run")
    save_samples(files.samples(10), "points", np.zeros((5, 2), np.float32), 10, 1)
    assert load_samples(files.samples(10))["step"] == 10
    _truncate(files.samples(10))
    with pytest.raises(UnreadableFile, match=rf"delete {files.samples(10)} and {files.samples_index}.*`sample` job"):
        load_samples(files.samples(10))


def test_damaged_progress_file_means_starting_over(tmp_path, caplog):
    from gan.progress import StepProgress

    path = tmp_path / "scores" / ".progress.json"
    path.parent.mkdir()
    path.write_text('{"key": "abc", "done": {"10"')
    progress = StepProgress(path, {"a": 1})
    assert progress.done == {} and "starting over" in caplog.text


@pytest.mark.parametrize("mask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_result_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic.write_json(tmp_path / "a.json", {"x": 1})
        atomic.save_npz(tmp_path / "b.npz", x=np.zeros(2))
        assert atomic.umask() == mask
    finally:
        os.umask(old)
    for name in ("a.json", "b.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_attempts_log_keeps_every_attempt(tmp_path, monkeypatch):
    from gan.progress import note_attempt

    run_dir = tmp_path / "runs" / "d" / "o" / "seed0"
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    note_attempt(run_dir, "started")
    note_attempt(run_dir, "preempted at generator iteration 40;\nexit 143")
    lines = RunFiles(run_dir).attempts.read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith("slurm_job=77 started")
    assert lines[1].endswith("preempted at generator iteration 40; exit 143") and f"pid={os.getpid()}" in lines[1]


class Foreign:
    """A class weights_only=True refuses to unpickle."""


def test_damaged_or_foreign_checkpoint_is_one_line_never_suggesting_to_unpickle(tmp_path):
    import torch

    from gan.checkpoint import CheckpointError, load, save

    path = tmp_path / "checkpoints" / "step0000010.pt"
    save(path, {"step": 10, "w": torch.zeros(1000)})
    assert load(path)["step"] == 10
    _truncate(path)
    with pytest.raises(CheckpointError, match=rf"^{path} is not a readable gan-bench checkpoint"):
        load(path)
    torch.save({"format": "gan-bench-checkpoint", "obj": Foreign()}, path)
    with pytest.raises(CheckpointError) as err:
        load(path)
    message = str(err.value)
    assert "\n" not in message and "never unpickled" in message and "weights_only" not in message


def test_prepared_dataset_holding_objects_never_suggests_to_unpickle(tmp_path):
    import torch

    from gan.datasets import load_prepared

    path = tmp_path / "data" / "x.pt"
    path.parent.mkdir()
    torch.save({"format": 1, "obj": Foreign()}, path)
    with pytest.raises(UnreadableFile, match="never unpickled") as err:
        load_prepared(path)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)


FULL_DISK = """
import resource, signal, sys, torch
from gan import atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as a full disk with ENOSPC
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
atomic.torch_save({"w": torch.zeros(1_000_000)}, sys.argv[1])
"""


def test_a_checkpoint_write_that_runs_out_of_space_says_so(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path / "c.pt")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("OSError: [Errno 27] File too large") and "unexpected pos" not in out.stderr
    assert list(tmp_path.iterdir()) == []  # the temp file is gone, nothing half-written in place


def test_torch_save_bytes_are_unchanged(tmp_path):
    import io

    import torch

    obj = {"w": torch.arange(10.0), "step": 3}
    atomic.torch_save(obj, tmp_path / "a.pt")
    with open(tmp_path / "b.pt", "wb") as fh:  # what the previous writer wrote: a file object
        torch.save(obj, fh)
    buf = io.BytesIO()
    torch.save(obj, buf)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes() == buf.getvalue()
