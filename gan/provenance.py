"""Where a result came from: the code's git state and a config's hash. Light: no torch import, so the MLflow
sync can use it cheaply."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

CODE_DIR = Path(__file__).resolve().parents[1]  # the checkout the gan package runs from (editable install)


def git_state(path: str | Path = CODE_DIR) -> dict[str, Any]:
    """Commit and dirty flag of the code checkout (None for both outside git)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def config_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]
