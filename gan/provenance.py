"""Where a result came from: the code's git state and a config's hash. Light: no torch import, so the MLflow
sync can use it cheaply."""
from __future__ import annotations

import hashlib
import json
import re
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
    # of the redacted config: the hash is written beside it, and a hash of a password is a guessable password
    return hashlib.sha256(json.dumps(redact(values), sort_keys=True, default=str).encode()).hexdigest()[:12]


# the user-info part of a URI (`http://user:password@host`, `https://token@host`): a credential
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@")


def redact(value: Any) -> Any:
    """`value` with the credentials of every URI in it replaced by ``***`` (``http://***@host``): strings, and the
    strings inside dicts and lists (a config). Everything the project writes or prints that may hold a tracking URI
    goes through this; MLflow's own MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD never reach a file."""
    if isinstance(value, str):
        return _USERINFO.sub(r"\g<scheme>***@", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value
