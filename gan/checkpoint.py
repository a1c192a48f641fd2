"""Checkpoints that describe themselves: models, optimisers, every RNG state, the config and the curve so far.

Written atomically (temp file + rename) and loaded with weights_only=True, so a checkpoint can hold only
tensors and plain Python values: RNG states are converted to those.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .layout import RunFiles

from . import atomic
from .config import config_from_dict
from .models import ModelConfig, build_models

FORMAT = "gan-bench-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A file that is not a readable gan-bench checkpoint."""


def step_path(run_dir: str | Path, step: int) -> Path:
    return RunFiles(run_dir).checkpoint(step)


def capture_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, payload: dict[str, Any]) -> None:
    atomic.torch_save({"format": FORMAT, "version": VERSION, **payload}, path)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated zip, a pickle with foreign classes, random bytes...
        raise CheckpointError(f"{path} is not a readable gan-bench checkpoint ({atomic.load_error(err)}). "
                              f"Nothing was changed; move the file away to start over from the previous one.") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gan-bench checkpoint (no '{FORMAT}' marker): a foreign file? "
                              f"Nothing was changed; move it out of the checkpoints folder.")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {payload.get('version')}, expected {VERSION}")
    return payload


def list_checkpoints(run_dir: str | Path) -> dict[int, Path]:
    """Configured-step checkpoints of a run, by step."""
    return RunFiles(run_dir).stored_steps()


def latest(run_dir: str | Path, max_step: int) -> tuple[int, Path] | None:
    """The checkpoint to resume from: the furthest one at or before max_step (rolling last.pt included)."""
    candidates = {s: p for s, p in list_checkpoints(run_dir).items() if s <= max_step}
    last = RunFiles(run_dir).last_checkpoint
    if last.exists():
        step = int(load(last)["step"])
        if step <= max_step and step > max(candidates, default=-1):
            candidates[step] = last
    if not candidates:
        return None
    step = max(candidates)
    return step, candidates[step]


@dataclass
class LoadedRun:
    generator: torch.nn.Module
    critic: torch.nn.Module
    config: dict[str, Any]
    step: int


def load_run(path: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild generator and critic from a checkpoint alone (eval mode, on `device`)."""
    payload = load(path)
    model_cfg = payload["model"]
    generator, critic = build_models(ModelConfig(**{**model_cfg, "data_shape": tuple(model_cfg["data_shape"])}))
    generator.load_state_dict(payload["generator"])
    critic.load_state_dict(payload["critic"])
    config_from_dict(payload["config"])  # checks the stored config is one this version understands
    return LoadedRun(generator.to(device).eval(), critic.to(device).eval(), payload["config"], int(payload["step"]))
