"""A throwaway `mlflow server` for tests: `with running_mlflow_server(tmp_path) as uri: ...`.

The server listens on 127.0.0.1 at a free port, keeps its SQLite backend and artifacts (and basic-auth's user
store, with `app_name="basic-auth"`) under tmp_path, and is stopped (its whole process group, by the PID we started)
when the block ends, pass or fail.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    """A TCP port nothing listens on right now (bound once by us, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_mlflow_server(tmp_path: str | os.PathLike, startup_timeout_s: float = 300.0, app_name: str | None = None,
                          env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `mlflow server` (`--app-name app_name`, extra `env` for the server only), wait until /health answers,
    yield its URI, stop it afterwards. The generous startup timeout: on 2 cores shared with a benchmark, startup
    (more so basic-auth's) has taken over two minutes."""
    root = Path(tmp_path) / "mlflow-server"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlflow", "server",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{(root / 'mlflow.db').resolve()}",
           "--artifacts-destination", str((root / "artifacts").resolve())]
    cmd += ["--app-name", app_name] if app_name else []
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, **(env or {})}
    log_path = root / "server.log"
    with open(log_path, "wb") as log_file:
        # Own session: the server forks workers (uvicorn/gunicorn); killing the group stops them all.
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                cwd=root, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _healthy(f"{uri}/health"):
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server not healthy after {startup_timeout_s}s:\n{_tail(log_path)}")
            time.sleep(0.25)
        yield uri
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the group we created: pgid == our child's pid
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    # Workers may outlive a leader that exited on its own; the group id is still ours to clean.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"
