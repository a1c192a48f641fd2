"""A real one-node SLURM cluster for tests, and a helper to run Snakemake through the SLURM profiles.

Use in a test module (tests/ need not be a package: load this file by path, see tests/test_slurm.py)::

    slurm_cluster = fixtures.slurm_cluster          # the session fixture
    def test_x(slurm_cluster, tmp_path):
        result = slurm_cluster.run_snakemake(tmp_path, "--cores", "2")   # in tmp_path, with both profiles
        assert result.returncode == 0, result.report()

`slurm_cluster` runs ``tests/slurm/cluster.sh start`` once per session and ``stop`` at the end (always, also
when start failed half-way). It skips the test, with the reason, when the cluster cannot exist here (not root,
no apt-get, install failed, a foreign /etc/slurm/slurm.conf); any other start failure is an error, not a skip.
If several modules import the fixture, each gets its own instance: the second ``start`` finds the cluster
running and returns at once. To have exactly one, import it in tests/conftest.py instead.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
PROFILE_CI = REPO / "profiles" / "slurm-ci"
SKIP_CODES = {2: "not root", 3: "SLURM cannot be installed here", 4: "a foreign SLURM config exists"}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without SLURM job variables (the plugin refuses to behave inside a job)
    and without the workstation GPU-slot settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "GAN_BENCH_GPU_")) and k != "CUDA_VISIBLE_DEVICES"}
    env.update(extra or {})
    return env


@dataclass
class SnakemakeResult:
    args: list[str]
    returncode: int
    output: str           # stdout + stderr
    seconds: float
    workdir: Path

    def slurm_logs(self) -> dict[str, str]:
        logs = {}
        for p in sorted((self.workdir / ".snakemake" / "slurm_logs").rglob("*.log")):
            logs[str(p.relative_to(self.workdir))] = p.read_text(errors="replace")
        return logs

    def report(self, tail: int = 4000) -> str:
        """What to show when an assertion on this run fails: the command, Snakemake's output, the job logs."""
        parts = [f"$ {' '.join(self.args)}\n(rc={self.returncode}, {self.seconds:.1f} s)", self.output[-tail:]]
        for name, text in self.slurm_logs().items():
            parts.append(f"--- {name}\n{text[-tail:]}")
        return "\n".join(parts)


@dataclass
class SlurmCluster:
    start_seconds: float                    # wall time of `cluster.sh start` (install included the first time)
    start_output: str
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("GAN_BENCH_SLURM_STATE",
                                                                        "/tmp/gan-bench-slurm")))
    profiles: tuple[Path, ...] = (PROFILE, PROFILE_CI)

    def snakemake_args(self, *args: str, timeout: int = 300) -> list[str]:
        """``timeout -k 30 T python -m snakemake --profile slurm --profile slurm-ci --workflow-profile none ...``

        ``--workflow-profile none``: a profiles/default/ of the workflow would otherwise be applied on top and
        override these profiles key by key. Snakemake ignores SIGTERM while jobs run, hence ``-k 30``.
        """
        cmd = ["timeout", "-k", "30", str(timeout), sys.executable, "-m", "snakemake"]
        for p in self.profiles:
            cmd += ["--profile", str(p)]
        return cmd + ["--workflow-profile", "none", *args]

    def run_snakemake(self, workdir: Path, *args: str, timeout: int = 300,
                      env: dict[str, str] | None = None) -> SnakemakeResult:
        """Run Snakemake in `workdir` through the SLURM profiles; output also goes to workdir/snakemake.log."""
        cmd = self.snakemake_args(*args, timeout=timeout)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=workdir, env=clean_env(env), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - t0
        (Path(workdir) / "snakemake.log").write_text(proc.stdout)
        if proc.returncode in (124, 137):  # killed by timeout: the cluster may still run its jobs
            subprocess.run(["scancel", "--user", str(os.getuid())], check=False, capture_output=True)
        return SnakemakeResult(cmd, proc.returncode, proc.stdout, seconds, Path(workdir))

    def status(self) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(CLUSTER_SH), "status"], capture_output=True, text=True)


def _skip_reason() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "SLURM test cluster needs root (it installs packages and starts daemons)"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    # find_spec, not import: importing the plugin runs `scontrol show config` (~10 s without a controller)
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed"
    return None


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(["bash", str(CLUSTER_SH), "start"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=600, env=clean_env())
        seconds = time.monotonic() - t0
        output = proc.stdout + proc.stderr
        if proc.returncode in SKIP_CODES:
            pytest.skip(f"{SKIP_CODES[proc.returncode]}: {output.strip()[-500:]}")
        if proc.returncode != 0:
            pytest.fail(f"cluster.sh start failed (rc={proc.returncode}) after {seconds:.1f} s:\n{output[-4000:]}",
                        pytrace=False)
        print(f"\n[slurm] cluster started in {seconds:.1f} s: {output.strip().splitlines()[-1]}")
        yield SlurmCluster(start_seconds=seconds, start_output=output)
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120, env=clean_env())


def show_jobs() -> dict[str, dict[str, str]]:
    """Every job the controller still knows (running, pending, or ended less than MinJobAge=600 s ago), as
    ``{job id: {field: value}}`` from ``scontrol show job -d -o``. Values with spaces (Command=, Reason=...)
    are cut at the first space; the fields tests use (JobState, Comment, WorkDir, StdOut, TresPerJob,
    JOB_GRES, GRES) have none."""
    proc = subprocess.run(["scontrol", "show", "job", "-d", "-o"], capture_output=True, text=True, timeout=30,
                          env=clean_env())
    jobs = {}
    for line in proc.stdout.splitlines():
        fields = dict(re.findall(r"(?:^|\s)([A-Za-z_/:]+)=(\S*)", line))
        if fields.get("JobId"):
            jobs[fields["JobId"]] = fields
    return jobs


class JobWatcher:
    """Polls ``scontrol show job -d`` in a thread while a Snakemake run goes on, keeping what each job of
    `workdir` looked like: `jobs` (last view of each) and `gres_while_running` (the GRES with device index,
    e.g. ``gpu:1(IDX:0)``, which scontrol shows only while the job runs; SLURM sets CUDA_VISIBLE_DEVICES to
    that index). Use as a context manager around the run."""

    def __init__(self, workdir: Path, interval: float = 1.0):
        self.workdir = os.path.realpath(workdir)
        self.interval = interval
        self.jobs: dict[str, dict[str, str]] = {}
        self.gres_while_running: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        try:
            current = show_jobs()
        except (OSError, subprocess.SubprocessError):
            return
        for job_id, fields in current.items():
            if os.path.realpath(fields.get("WorkDir", "")) != self.workdir:
                continue
            self.jobs[job_id] = fields
            if fields.get("JobState") == "RUNNING" and fields.get("GRES"):
                self.gres_while_running.setdefault(job_id, set()).add(fields["GRES"])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def __enter__(self) -> "JobWatcher":
        self.poll()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.poll()  # final states (the controller keeps ended jobs for MinJobAge = 600 s)
