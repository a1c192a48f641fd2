"""The DAG is built without torch (issue 13): the registrations it reads (names, kinds, shapes, hyper-parameters,
metric directions and floors, the checks) import without it, and torch is imported only where a model, objective
or metric is built or run. Checked in fresh interpreters: this test session itself has imported torch."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from workflow_helpers import ROOT, complete_config, copy_workflow, smoke_config, snakemake, write_config

EXTENSION = Path(__file__).parent / "extension"
PLUGINS = [str(EXTENSION / f) for f in ("lsgan.py", "ring.py", "radius_metric.py")]


def workflow_imports() -> list[str]:
    """Every gan module the Snakefile and the rule files import (so a new import there is checked too)."""
    text = "\n".join(p.read_text() for p in [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))])
    return sorted(set(re.findall(r"^\s*(?:from|import)\s+(gan(?:\.\w+)*)", text, flags=re.M)))


def test_the_workflow_imports_gan_modules():
    assert {"gan.grid", "gan.layout", "gan.plugins"} <= set(workflow_imports())


def test_registries_grid_and_workflow_imports_do_not_import_torch():
    code = textwrap.dedent(f"""
        import importlib, sys
        import yaml
        for name in {workflow_imports() + ["gan.datasets", "gan.objectives", "gan.models", "gan.metrics"]!r}:
            importlib.import_module(name)
        from gan.grid import BenchmarkGrid
        from gan.plugins import load_plugins
        load_plugins({PLUGINS!r})  # one registration of each kind from outside the package
        for path in {[str(p) for p in sorted((ROOT / "config").glob("*.yaml")) if p.name != "schema.yaml"]!r}:
            BenchmarkGrid(yaml.safe_load(open(path)))  # every run's settings, resolved and checked
        print(sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip() == "[]", f"torch imported: {proc.stdout.strip()[:500]}"


def test_dry_run_builds_the_dag_with_torch_unimportable(tmp_path):
    """`snakemake -n` with plugins of every kind, where `import torch` fails and says who asked."""
    blocker = tmp_path / "blocked" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        "import traceback\nraise ImportError('torch imported at DAG build:\\n' + ''.join(traceback.format_stack()))\n")
    work = copy_workflow(tmp_path / "work")
    config = smoke_config(plugins=PLUGINS, objectives=["gan", "wgan", "wgan-gp", "lsgan"],
                          datasets={**smoke_config()["datasets"],
                                    "ring6": {"dataset": "ring", "options": {"modes": 6},
                                              "train": {"model": "toy", "steps": 10}}})
    path = write_config(work, "blocked.yaml", config)
    pythonpath = os.pathsep.join(p for p in (str(blocker.parent), os.environ.get("PYTHONPATH")) if p)
    proc = snakemake(work, "-n", *complete_config(path.relative_to(work)), env={"PYTHONPATH": pythonpath})
    assert "results/gan-bench-smoke/runs/ring6/lsgan/seed0/summary.json" in proc.stdout + proc.stderr
