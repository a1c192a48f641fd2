"""Running the Snakemake workflow the way users do, in a copy of the checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config", "workflow", "profiles")


def complete_config(path) -> tuple[str, ...]:
    """A config of its own, as the README passes one: it replaces config/config.yaml instead of being merged into
    it (Snakemake's --replace-workflow-config); an overlay is passed with --configfile alone."""
    return ("--configfile", str(path), "--replace-workflow-config")


SMOKE = ("--cores", "2", *complete_config("config/smoke.yaml"))  # the README demo command's arguments


def copy_workflow(dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dst / name)
    return dst


def smoke_config(**changes) -> dict:
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config.update(changes)
    return config


def results_dir(config: dict) -> str:
    """A config's results folder, relative to its checkout: the schema's results_dir for its experiment."""
    from gan.layout import results_root
    from gan.schema import with_defaults

    return results_root(with_defaults(config)["results_dir"], config["experiment"])


SMOKE_RESULTS = results_dir(smoke_config())  # the demo's results folder (results/gan-bench-smoke)

#: the smoke config's stages beside the benchmark grid (the papers' figures), off in tests about something else
SIDE_STAGES_OFF = {stage: {"enabled": False} for stage in ("figure1a", "wgan_example1", "wgan_figure2",
                                                           "wgangp_figure1b")}


def write_config(workdir: Path, name: str, config: dict) -> Path:
    path = workdir / "config" / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_call(*args: str, env: dict | None = None) -> tuple[list[str], dict]:
    """The command line and environment of `snakemake ARGS` as the tests run it (for callers that start it
    themselves, e.g. to kill it)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **(env or {})}
    exe = shutil.which("snakemake") or sys.executable
    return ([exe, *args] if exe.endswith("snakemake") else [exe, "-m", "snakemake", *args]), full_env


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 1200,
              check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in workdir (the same executable users call), output captured."""
    cmd, full_env = snakemake_call(*args, env=env)
    proc = subprocess.run(cmd, cwd=workdir, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
    return proc


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of `snakemake -n` as {rule: count}."""
    counts, inside = {}, False
    for line in dry_run_output.splitlines():
        if line.startswith("job ") and "count" in line:
            inside = True
            continue
        if inside:
            parts = line.split()
            if not parts or set(line.strip()) <= {"-", " "}:
                continue
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts
