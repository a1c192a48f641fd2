"""Per-checkpoint work of a per-run job, kept for the job's retry.

The `sample` and `score` rules run once per run over all of its checkpoints and declare one index file each;
the per-checkpoint files they write are not declared outputs, so Snakemake does not delete them when the job
fails (as with training checkpoints). A progress file beside them records, after each checkpoint, what was made
and from what. The retry of an interrupted job (same key: same settings, same input files by size and mtime, same
code) reuses a checkpoint's files when their sources and the files themselves are unchanged, and redoes the rest.
A finished job deletes its progress file, so a later forced rerun recomputes everything.

A run's attempts log (`note_attempt`) keeps one line per attempt event of its training job: Snakemake deletes a
failed job's log before the retry, so the note of a preempted attempt (SIGTERM, checkpoint written) would be lost
with it; the attempts log is no declared output and survives.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

from gan import atomic

_CODE: str | None = None


def file_stat(path: str | os.PathLike) -> list[int] | None:
    """(size, mtime_ns) of a file, or None when it does not exist: what "unchanged" means here."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def code_fingerprint() -> str:
    """sha256 over the package's sources and the plugin files the job loaded: results made by other code are
    never reused."""
    global _CODE
    if _CODE is None:
        from gan.plugins import loaded_files

        digest = hashlib.sha256()
        root = Path(__file__).resolve().parent
        files = sorted(root.rglob("*.py")) + loaded_files()
        for path in files:
            digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode())
            digest.update(path.read_bytes() if path.exists() else b"")
        _CODE = digest.hexdigest()
    return _CODE


class StepProgress:
    """The progress file of one per-run job. `settings`: everything the results depend on besides the per-step
    sources (parameters, input files); they form the key with the code fingerprint."""

    def __init__(self, path: str | os.PathLike, settings: dict[str, Any], inputs: Iterable[str | os.PathLike] = ()):
        self.path = Path(path)
        material = {"settings": settings, "inputs": {str(p): file_stat(p) for p in inputs},
                    "code": code_fingerprint()}
        self.key = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
        try:
            previous = atomic.read_json_object(self.path) if self.path.exists() else {}
        except atomic.UnreadableFile as err:  # only a cache of finished steps: recomputing them is always right
            logging.getLogger(__name__).warning("%s; starting over", err)
            previous = {}
        self.done: dict[str, dict] = previous.get("done", {}) if previous.get("key") == self.key else {}

    def reusable(self, step: int, source: str | os.PathLike | None) -> dict | None:
        """The recorded result of `step` when its source and every file it made are as recorded, else None."""
        entry = self.done.get(str(step))
        if not entry or entry["source"] != (file_stat(source) if source else None):
            return None
        if any(file_stat(p) != stat for p, stat in entry["files"].items()):
            return None
        return entry["result"]

    def record(self, step: int, source: str | os.PathLike | None, files: Iterable[str | os.PathLike],
               result: dict) -> None:
        self.done[str(step)] = {"source": file_stat(source) if source else None,
                                "files": {str(p): file_stat(p) for p in files}, "result": result}
        atomic.write_json(self.path, {"key": self.key, "done": self.done})

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


def note_attempt(run_dir: str | os.PathLike, event: str) -> None:
    """Append `event` with the time, host, pid and SLURM job to the run's attempts log (appended, never rewritten:
    a log, not a result)."""
    import datetime
    import socket

    from gan.layout import RunFiles

    path = RunFiles(run_dir).attempts
    path.parent.mkdir(parents=True, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    slurm = os.environ.get("SLURM_JOB_ID")
    line = f"{when} host={socket.gethostname()} pid={os.getpid()}{f' slurm_job={slurm}' if slurm else ''} {event}"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(" ".join(line.split()) + "\n")
