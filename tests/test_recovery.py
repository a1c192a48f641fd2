"""The README demo killed with SIGKILL and recovered with the README's steps (issue: recovery documented and tested).

The demo (its first seed) runs, and the whole `snakemake` process group is killed twice at moments drawn with a
fixed seed inside two windows: while trainings run (one finished, another past a checkpoint) and while a run's
evaluation is half-written. After each kill the README's command fails on Snakemake's stale lock;
`snakemake --unlock` (README) then the same command again carries on. The recovered runs must equal the
uninterrupted demo's (`smoke_run`) in every number they wrote, and no training that had finished before a kill
may run again.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from workflow_helpers import SIDE_STAGES_OFF, SMOKE, SMOKE_RESULTS, complete_config, copy_workflow, snakemake, snakemake_call

README_UNLOCK = ("--unlock", *complete_config("config/smoke.yaml"))
# The demo with its first seed only and without the papers' side stages (a third of the cost; the suite's budget is
# 15 minutes): the same jobs per run, the same recovery steps, and runs equal to the full demo's seed-0 runs (every
# run depends on its seed alone). --config values are YAML and merge into the config file's blocks.
DEMO = (*SMOKE, "--config", "seeds=[0]", *(f"{stage}={{enabled: false}}" for stage in SIDE_STAGES_OFF))
RUNS = f"{SMOKE_RESULTS}/runs"


def _summaries(workdir: Path) -> dict[str, int]:
    return {str(p.relative_to(workdir)): p.stat().st_mtime_ns for p in (workdir / RUNS).glob("*/*/seed*/summary.json")}


def _training_in_progress(workdir: Path) -> bool:
    """A training finished, and another has written a checkpoint but not its summary: a kill now lands mid-run."""
    runs = [p for p in (workdir / RUNS).glob("*/*/seed*") if p.is_dir()]
    finished = [r for r in runs if (r / "summary.json").exists()]
    resumable = [r for r in runs if not (r / "summary.json").exists() and any((r / "checkpoints").glob("*.pt"))]
    return bool(finished and resumable)


def _evaluation_in_progress(workdir: Path) -> bool:
    """A run's sampler has written a checkpoint's samples but not yet its index: its evaluation is half-way."""
    for run in (workdir / RUNS).glob("*/*/seed*"):
        if any((run / "samples").glob("step*")) and not (run / "samples" / "index.json").exists():
            return True
    return False


def _run_until(workdir: Path, moment, rng: random.Random, timeout: float = 1200) -> bool:
    """Start the README command in its own process group; SIGKILL the group a random 0-0.5 s after `moment` holds.
    Returns False if the run ended (successfully) before the moment came."""
    cmd, env = snakemake_call(*DEMO)
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not moment(workdir):
            if proc.poll() is not None:
                assert proc.returncode == 0, f"the demo failed on its own ({proc.returncode})"
                return False
            assert time.monotonic() < deadline, "the demo neither finished nor reached the moment to kill it"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        # every job of the run was in that group: nothing may still write into the folder
        for _ in range(100):
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("processes of the killed demo survived the SIGKILL of its group")
        return True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _recover(workdir: Path) -> None:
    """The README's steps after a kill: the command first fails on the stale lock, --unlock clears it."""
    stale = snakemake(workdir, *DEMO, check=False)
    assert stale.returncode != 0 and "cannot be locked" in stale.stdout + stale.stderr, stale.stderr[-2000:]
    snakemake(workdir, *README_UNLOCK)


def _metrics(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "metrics.csv").drop(columns=["time_s"])  # wall-clock seconds differ, nothing else


def _timeless(table: pd.DataFrame) -> pd.DataFrame:
    """Without the wall-clock columns (eval_time_s, wall_clock_s, s_per_1k_gen_iters_*)."""
    clocks = [c for c in table.columns if c.endswith("time_s") or c.startswith(("wall_clock", "s_per_"))]
    return table.drop(columns=clocks)


def _checkpoint_weights(path: Path) -> dict:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    return {"generator": payload["generator"], "critic": payload["critic"], "step": payload["step"]}


def _score(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "time_s"}  # scoring's wall-clock seconds


def assert_same_results(workdir: Path, reference: Path) -> None:
    """Every number the demo wrote in workdir equals the reference's for the same runs: training curves and
    checkpoints (bitwise), summaries, every checkpoint's scores and their tidy table. Wall-clock seconds excepted."""
    runs = sorted(p.relative_to(workdir) for p in (workdir / RUNS).glob("*/*/seed*"))
    assert runs and all((reference / rel).is_dir() for rel in runs)
    for rel in runs:
        ours, theirs = workdir / rel, reference / rel
        pd.testing.assert_frame_equal(_metrics(ours), _metrics(theirs))
        ours_summary, theirs_summary = (json.loads((r / "summary.json").read_text()) for r in (ours, theirs))
        for key in ("status", "steps_done", "diverged_step", "config_hash", "checkpoints"):
            assert ours_summary[key] == theirs_summary[key], (rel, key)
        for step, ckpt in theirs_summary["checkpoints"].items():
            a, b = _checkpoint_weights(ours / ckpt), _checkpoint_weights(theirs / ckpt)
            assert a["step"] == b["step"]
            for net in ("generator", "critic"):
                for name, tensor in b[net].items():
                    assert torch.equal(a[net][name], tensor), (rel, step, net, name)
        ours_scores = json.loads((ours / "scores" / "index.json").read_text())
        theirs_scores = json.loads((theirs / "scores" / "index.json").read_text())
        assert ours_scores.keys() == theirs_scores.keys()
        for name in sorted((theirs / "scores").glob("step*.json")):
            assert _score(ours / "scores" / name.name) == _score(name), (rel, name)
    # the tidy table of every checkpoint's scores: the reference's rows of the same runs
    ours, theirs = (_timeless(pd.read_csv(w / SMOKE_RESULTS / "tables/scores.csv")) for w in (workdir, reference))
    keys = ["dataset", "objective", "seed", "step"]
    theirs = theirs.merge(ours[keys], on=keys)
    assert len(theirs) == len(ours)
    ours, theirs = (t.sort_values(keys, ignore_index=True) for t in (ours, theirs))
    pd.testing.assert_frame_equal(ours, theirs)

@pytest.mark.slow
def test_sigkill_at_random_moments_then_the_readme_recovery_equals_an_uninterrupted_run(smoke_run, tmp_path):
    workdir = copy_workflow(tmp_path / "killed")
    rng = random.Random(20261203)
    finished_before_kill: dict[str, int] = {}
    for moment in (_training_in_progress, _evaluation_in_progress):
        assert _run_until(workdir, moment, rng), f"the demo finished before {moment.__name__}"
        finished_before_kill.update(_summaries(workdir))
        _recover(workdir)
    snakemake(workdir, *DEMO)  # the same command again, to the end

    # no finished training was redone: its summary is the very file written before the kill
    after = _summaries(workdir)
    assert finished_before_kill and {k: after.get(k) for k in finished_before_kill} == finished_before_kill
    # and the training killed half-way resumed from its checkpoint instead of starting again
    assert any("resuming" in log.read_text() for log in (workdir / SMOKE_RESULTS / "logs/train").rglob("*.log"))

    # every number equals the uninterrupted demo's: trainings (killed ones resumed), scores, tables
    assert_same_results(workdir, smoke_run)
