"""A run folder's settings against the config's: what may resume it, and setting a replaced run aside.

A run folder belongs to the settings it was trained with. Settings in RESUMABLE_KEYS (more steps, other checkpoint
steps, the device) continue the same run; any other change makes a different run. Snakemake reruns `train` when its
params change and deletes the declared outputs (summary.json, metrics.csv) first, so the workflow's `onstart`
moves such a run folder aside, whole, before any job starts (`set_aside_replaced`): nothing of a finished run is
lost, and the new settings train from scratch in the run's usual folder, which every rule and figure reads.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

from .config import RESUMABLE_KEYS, config_from_dict, resolve
from .layout import Layout, RunFiles
from .provenance import config_hash

log = logging.getLogger("gan.runs")


def changed_settings(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings (keys of resolved configs) in which `current` makes another run than `stored`."""
    # as JSON (summary.json's form): a tuple and the list it was written as are one setting
    stored, current = json.loads(json.dumps(stored, default=str)), json.loads(json.dumps(current, default=str))
    return sorted(k for k in current if k not in RESUMABLE_KEYS and stored.get(k) != current[k])


def settings_hash(config: dict[str, Any]) -> str:
    """The hash of a resolved config's run-defining settings: a resumable change (more steps) keeps it."""
    return config_hash({k: v for k, v in config.items() if k not in RESUMABLE_KEYS})


def resolved(settings: dict[str, Any]) -> dict[str, Any]:
    """A run's settings (the grid's train_settings, or the CLI's) as training resolves and records them."""
    return resolve(config_from_dict(settings)).to_dict()


def stored_settings(run_dir: str | os.PathLike) -> tuple[dict[str, Any], int] | None:
    """(resolved config, generator iterations done) of the run in `run_dir`: from summary.json when it finished,
    else from its latest checkpoint; None for a folder holding neither."""
    files = RunFiles(run_dir)
    if files.summary.is_file():
        from .atomic import read_summary

        summary = read_summary(run_dir)
        return summary["config"], int(summary["steps_done"])
    steps = files.stored_steps()
    candidates = [p for p in (*steps.values(), files.last_checkpoint) if p.is_file()]
    if not candidates:
        return None
    from . import checkpoint as ckpt  # torch: only for a started run without a summary

    payload = ckpt.load(max(candidates, key=lambda p: p.stat().st_mtime))
    return payload["config"], int(payload["step"])


def replaced_reason(run_dir: str | os.PathLike, current: dict[str, Any]) -> str | None:
    """Why the run in `run_dir` is not the run of the resolved config `current` (None: it is, or there is none)."""
    stored = stored_settings(run_dir)
    if stored is None:
        return None
    config, done = stored
    changed = changed_settings(config, current)
    if changed:
        return f"settings changed: {', '.join(changed)}"
    if done > current["steps"]:
        # a shorter run would resume from an earlier checkpoint and rewrite the longer run's curve and summary
        return f"steps lowered from {done} done to {current['steps']}"
    return None


def set_aside_replaced(layout: Layout, runs: Iterable[tuple[str, str, int, dict[str, Any]]]) -> list[str]:
    """Move each run folder whose files come from other settings than its (dataset, objective, seed, settings) to
    layout.set_aside(...), named by its old settings' hash; returns one line per folder moved."""
    moved = []
    for dataset, objective, seed, settings in runs:
        run_dir = Path(layout.run_dir(dataset, objective, seed))
        if not run_dir.is_dir():
            continue
        reason = replaced_reason(run_dir, resolved(settings))
        if reason is None:
            continue
        old = stored_settings(run_dir)[0]
        target = Path(layout.set_aside(dataset, objective, seed, settings_hash(old)))
        if target.exists():  # the same old settings set aside before: keep both, the older one first
            target = target.with_name(f"{target.name}-{len(list(target.parent.glob(target.name + '*')))}")
        target.parent.mkdir(parents=True, exist_ok=True)
        run_dir.rename(target)
        moved.append(f"{run_dir} -> {target} ({reason})")
        log.warning("kept the replaced run %s as %s (%s)", run_dir, target, reason)
    return moved
