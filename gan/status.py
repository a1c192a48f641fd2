"""What a user watches: every run's training progress (`python -m gan status`), and what the workflow prints when it
ends (the Snakefile's onsuccess / onerror): the files to open, or the logs of the jobs that failed.

Read from the files the jobs write (summary.json, metrics.csv, mlflow/synced.json); nothing here writes.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
from pathlib import Path
from typing import Any, Iterable, Sequence

from .layout import Layout, RunFiles


def _last_row(metrics: Path) -> dict[str, str] | None:
    """The last complete row of a metrics.csv being appended to (a half-written last line is skipped)."""
    try:
        lines = metrics.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    header = lines[0].split(",") if lines else []
    for line in reversed(lines[1:]):
        cells = next(csv.reader([line]))
        if len(cells) == len(header) and cells[0].isdigit():
            return dict(zip(header, cells))
    return None


def run_progress(run_dir: str | os.PathLike, steps: int) -> dict[str, Any]:
    """One run's state: finished / diverged (summary.json), training (metrics.csv rows so far), or waiting."""
    files = RunFiles(run_dir)
    if files.summary.is_file():
        try:
            summary = json.loads(files.summary.read_text(encoding="utf-8"))
            return {"status": summary["status"], "step": int(summary["steps_done"]), "steps": int(summary["steps"]),
                    "time_s": float(summary["wall_clock_s"]), "eta_s": None}
        except (OSError, ValueError, KeyError, TypeError):
            return {"status": "damaged summary.json", "step": None, "steps": steps, "time_s": None, "eta_s": None}
    row = _last_row(files.metrics) if files.metrics.is_file() else None
    if row is None:
        return {"status": "waiting", "step": None, "steps": steps, "time_s": None, "eta_s": None}
    step, time_s = int(row["step"]), float(row["time_s"] or 0.0)
    eta = (steps - step) * time_s / step if step else None
    return {"status": "training", "step": step, "steps": steps, "time_s": time_s, "eta_s": eta}


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    value = int(round(value))
    return f"{value // 3600}h{value % 3600 // 60:02d}m" if value >= 3600 else (
        f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s")


def status_table(layout: Layout, runs: Iterable[tuple[str, str, int, int]]) -> str:
    """Every run (dataset, objective, seed, steps) of a benchmark: state, generator iterations, time, ETA."""
    rows, counts = [], {}
    for dataset, objective, seed, steps in runs:
        p = run_progress(layout.run_dir(dataset, objective, seed), steps)
        counts[p["status"]] = counts.get(p["status"], 0) + 1
        step = "" if p["step"] is None else f"{p['step']}/{p['steps']}"
        rows.append((f"{dataset}/{objective}/seed{seed}", p["status"], step, _seconds(p["time_s"]),
                     _seconds(p["eta_s"])))
    head = ("run", "status", "iteration", "time", "ETA")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [f"{layout.root}: {len(rows)} runs, " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# What the workflow prints at its end
# --------------------------------------------------------------------------------------------------

def mlflow_hint(synced: str | os.PathLike) -> list[str]:
    """How to open the mirror's training runs, from the DAG sync's report (mlflow/synced.json); none without it."""
    path = Path(synced)
    if not path.is_file():
        return []
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    from .tracking import ui_hint

    return ui_hint(report)


def success_message(layout: Layout, tables: Sequence[str], figures: Sequence[str], rerun: Sequence[str],
                    status: str) -> str:
    """What to open after a successful DAG: the tables (Markdown), figures (PNG), the report command and MLflow.
    Only files that exist are named; `rerun` is the snakemake command line's config arguments, `status` the
    status command of this benchmark."""
    def existing(paths):
        return [p for p in paths if Path(p).is_file()]

    command = shlex.join(["snakemake", *rerun])
    lines = [f"Finished. Results of this config: {layout.root}/"]
    shown = existing(p for p in tables if p.endswith(".md"))
    if shown:
        lines.append("  tables:   " + "  ".join(shown))
    pictures = existing(p for p in figures if p.endswith(".png"))
    if pictures:
        folders = sorted({str(Path(p).parent) for p in pictures})
        lines.append(f"  figures:  {len(pictures)} PNG (and PDF) in " + ", ".join(f"{f}/" for f in folders))
    lines.append(f"  report:   {command} --report {layout.report}")
    lines.append(f"  runs:     {status}")
    lines += [f"  MLflow:   {line}" for line in mlflow_hint(layout.mlflow_synced)]
    return "\n".join(lines)


def failure_message(failed: Iterable[tuple[str, Sequence[str]]], status: str) -> str:
    """Which jobs failed (rule and wildcards) and the log of each, to open first."""
    lines = ["Failed. The log of each failed job (printed above; Snakemake keeps it until the retry):"]
    for job, logs in failed:
        lines.append(f"  {job}: " + (", ".join(logs) if logs else "no log"))
    lines.append(f"  every run's progress: {status}")
    lines.append("  after fixing the cause, run the same command again: finished jobs are kept, training resumes")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Rule params as the Snakemake report shows them
# --------------------------------------------------------------------------------------------------

class _Summarised:
    """A container param that the Snakemake report's "Job parameters" shows as a count (str), while Snakemake's
    rerun check, which compares repr(), and the job, which unpickles it, see all of it."""

    def __str__(self) -> str:
        return f"<{len(self)} {type(self).what}>"


class SummarisedTuple(_Summarised, tuple):
    """A tuple: Snakemake rebuilds a list param as a plain list (applying wildcards to its strings), not a tuple."""
    what = "entries"


class SummarisedDict(_Summarised, dict):
    what = "named inputs"


def summarised(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with every list or dict of more than a few items wrapped so the report shows its size, not every
    path of it (the figures rule lists each sample file it reads)."""
    def wrap(value):
        if isinstance(value, dict) and len(value) > 3:
            return SummarisedDict(value)
        if isinstance(value, (list, tuple)) and len(value) > 3:
            return SummarisedTuple(value)
        return value
    return {key: wrap(value) for key, value in params.items()}


# --------------------------------------------------------------------------------------------------
# `python -m gan status` (gan/cli.py registers it)
# --------------------------------------------------------------------------------------------------

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="every run's training progress (finished, training with ETA, waiting)",
                              description="Every run of a benchmark: its state, generator iterations, training time "
                                          "and ETA, from summary.json and metrics.csv. Follow a run with `watch`.")
    p.add_argument("--configfile", default=None, help="the benchmark's complete config (its runs and results folder; "
                   "default: the config recorded in RESULTS/provenance.json)")
    p.add_argument("--results-dir", default=None, help="the results folder (default: the config's)")
    p.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    from .grid import BenchmarkGrid
    from .layout import results_root
    from .schema import with_defaults

    config = None
    if args.configfile:
        import yaml

        with open(args.configfile, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
        if not isinstance(config, dict):
            raise ValueError(f"--configfile {args.configfile}: not a mapping of settings")
    elif args.results_dir and Path(Layout(args.results_dir).provenance).is_file():
        from .atomic import read_json

        config = read_json(Path(Layout(args.results_dir).provenance)).get("config")
    if config is None:
        raise ValueError("which benchmark? give --configfile (its complete config); --results-dir alone works once "
                         "the DAG has written its provenance.json")
    grid = BenchmarkGrid(config)
    layout = Layout(args.results_dir or results_root(with_defaults(config)["results_dir"], config.get("experiment")))
    runs = [(d, o, s, int(grid.train_settings(d, o, s)["steps"])) for d, o, s in grid.runs()]
    if not Path(layout.root).is_dir():
        raise FileNotFoundError(f"no results folder {layout.root} (nothing has run yet)")
    print(status_table(layout, runs))
    return 0
