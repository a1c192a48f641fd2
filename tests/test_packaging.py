"""pyproject.toml and environment.yml list the same packages with the same bounds and the same Python."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda names of the PyPI packages that differ
CONDA_NAMES = {"torch": "pytorch"}


def _parse(spec: str) -> tuple[str, str]:
    name, bound = re.match(r"^(?:[a-z]+::)?([A-Za-z0-9_.\-]+)\s*(.*)$", spec).groups()
    return name.lower(), bound.replace(" ", "")


def _bounds(specs) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for spec in specs:
        name, bound = _parse(spec)
        out.setdefault(name, set()).update(b for b in bound.split(",") if b)
    return out


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = _bounds(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip_section = next(d["pip"] for d in env if isinstance(d, dict))
    conda = _bounds(s for s in env if isinstance(s, str) and not s.startswith(("python", "pip")))
    assert {**conda, **_bounds(pip_section)} == {CONDA_NAMES.get(n, n): b for n, b in pip.items()}
    python = next(s for s in env if isinstance(s, str) and s.startswith("python"))
    assert python.removeprefix("python") == project["requires-python"]
    assert "clean-fid" in _bounds(pip_section)  # on PyPI only


# what the driver process needs but a job does not: Snakemake itself, its plugin, the report's highlighter
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "pygments"}


def test_the_jobs_conda_environment_matches_the_runtime_dependencies():
    """workflow/envs/gan.yaml (every rule's `conda:`) holds pyproject's runtime dependencies, as conda publishes
    them, minus what only the driver needs; every rule declares it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {CONDA_NAMES.get(n, n): b for n, b in _bounds(project["dependencies"]).items() if n not in DRIVER_ONLY}
    env = yaml.safe_load((ROOT / "workflow/envs/gan.yaml").read_text())["dependencies"]
    pip_section = next(d["pip"] for d in env if isinstance(d, dict))
    conda = _bounds(s for s in env if isinstance(s, str) and not s.startswith(("python", "pip")))
    assert {**conda, **_bounds(pip_section)} == runtime
    python = next(s for s in env if isinstance(s, str) and s.startswith("python"))
    assert python.removeprefix("python") == project["requires-python"]
    rules = "".join(p.read_text() for p in sorted((ROOT / "workflow/rules").glob("*.smk")))
    n_rules = len(re.findall(r"^rule \w+:", rules, flags=re.M))
    assert n_rules > 10 and rules.count('conda:\n        "../envs/gan.yaml"') == n_rules


def test_the_workflow_is_snakefmt_formatted():
    """snakefmt (with pyproject's line length), as Snakemake workflows ship: `snakefmt Snakefile workflow/`
    formats them."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
