"""Atomic file writes, and reads that check what they read back.

Writes: every result file is written to a temp file in the same folder, then renamed, so a reader (or a killed
job) sees either the old file or the complete new one, never half of one. Permissions follow the user's umask
(0644 under umask 022, 0600 under 077), like any file the user makes; mkstemp alone would make every result 0600
while the MLflow mirror of the same data follows the umask.

Reads (`read_json`, `load_npz`, `torch_load`): a file damaged after it was written (a truncated copy, a disk
fault, an edit) is one line, `UnreadableFile`, naming the file and the remedy: which file to delete so that the
rule that makes it runs again. Loaders never unpickle (``allow_pickle=False``, ``weights_only=True``).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


DEFAULT_REMEDY = "delete it and run the workflow again: the step that writes it makes it again"


class UnreadableFile(ValueError):
    """A file of the pipeline cannot be read back (truncated, corrupt, not what it should hold)."""


def unreadable(path: str | os.PathLike, detail: str, remedy: str | None = None) -> UnreadableFile:
    """The one-line error for `path`: what is wrong with it and what to delete so that it is made again."""
    detail = " ".join(str(detail).split())[:200]
    return UnreadableFile(f"{path} is unreadable ({detail}): {remedy or DEFAULT_REMEDY}")


def load_error(exc: BaseException) -> str:
    """What a failed load says, in one line, and never the loader's advice to unpickle (numpy's allow_pickle=True,
    torch's weights_only=False): unpickling an untrusted file runs its code."""
    text = " ".join(str(exc).split())
    if "pickle" in type(exc).__name__.lower() or "pickle" in text.lower() or "weights_only" in text.lower():
        return "it holds Python objects besides arrays and tensors, which are never unpickled"
    return f"{type(exc).__name__}: {text[:200]}"


def rerun_remedy(rule: str, *delete: str | os.PathLike) -> str:
    """The remedy for a damaged file: which files to delete so that the workflow's `rule` job makes them again
    (a declared output among them, or Snakemake would not see that anything is missing)."""
    return (f"delete {' and '.join(map(str, delete))}, then run the workflow again: its `{rule}` job makes "
            f"{'them' if len(delete) > 1 else 'it'} again")


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask can only set it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is fsynced and renamed over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600; a result file follows the umask like any other
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars / paths show up in configs and metric dicts
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike, remedy: str | None = None) -> Any:
    """The JSON in `path`; a file that is not valid JSON (truncated, corrupt) is an UnreadableFile naming it and
    `remedy` (what to delete so that it is made again). A missing file stays FileNotFoundError."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise unreadable(path, f"not valid JSON: {exc}", remedy) from None


def read_json_object(path: str | os.PathLike, keys: tuple[str, ...] = (), remedy: str | None = None) -> dict:
    """`read_json`, and the content must be a JSON object holding `keys`."""
    obj = read_json(path, remedy)
    if not isinstance(obj, dict):
        raise unreadable(path, f"a JSON {type(obj).__name__}, not an object", remedy)
    missing = [k for k in keys if k not in obj]
    if missing:
        raise unreadable(path, f"no {', '.join(map(repr, missing))} in it", remedy)
    return obj


def load_npz(path: str | os.PathLike, keys: tuple[str, ...] = (), remedy: str | None = None) -> dict[str, Any]:
    """Every array of an .npz file, read in full (so a truncated member fails here, not later), never unpickled;
    a damaged file, or one without `keys`, is an UnreadableFile naming it and `remedy`."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # a truncated zip, bad CRC, random bytes, object arrays
        raise unreadable(path, f"not a readable .npz: {load_error(exc)}", remedy) from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise unreadable(path, f"no {', '.join(map(repr, missing))} array in it", remedy)
    return arrays


def torch_load(path: str | os.PathLike, remedy: str | None = None, map_location: Any = "cpu") -> Any:
    """torch.load with weights_only=True (tensors and plain values only); a damaged file is an UnreadableFile."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # a truncated zip ("PytorchStreamReader failed"), random bytes, foreign pickles
        raise unreadable(path, f"not a readable torch file: {load_error(exc)}", remedy) from None


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    # into memory, then written: given a path, torch records the (random) temp file's name inside the archive, and
    # writing itself, torch turns a full disk into "unexpected pos"; a plain write says "No space left on device"
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Save a matplotlib figure atomically; the format follows the suffix of `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)


# --- the run files other jobs read back (docs/CONTRACTS.md), each with its remedy -------------------------------

def read_summary(run_dir: str | os.PathLike) -> dict:
    """A run's summary.json, checked: a damaged one is one line saying to retrain from the last checkpoint (never
    a run quietly left out of the tables)."""
    from .layout import RunFiles

    files = RunFiles(run_dir)
    return read_json_object(files.summary, ("dataset", "objective", "seed"), rerun_remedy("train", files.summary))


def read_score_file(run_dir: str | os.PathLike, step: int) -> dict:
    """A checkpoint's score file, checked: a damaged one is one line naming it and the files whose deletion makes
    the run's `score` job rescore it (its index is the declared output), never a legitimate-looking "missing"."""
    from .layout import RunFiles

    files = RunFiles(run_dir)
    path = files.scores(step)
    return read_json_object(path, ("step", "status"), rerun_remedy("score", path, files.scores_index))


def load_settings_npz(path: str | os.PathLike, remedy: str | None = None) -> dict[str, Any]:
    """An .npz of a stage's arrays with its JSON `settings` (checked as :func:`load_npz`): 0-d arrays as Python
    scalars, `settings` parsed."""
    import json

    out = {k: (v.item() if v.ndim == 0 else v) for k, v in load_npz(path, ("settings",), remedy).items()}
    try:
        out["settings"] = json.loads(out["settings"])
    except ValueError as exc:
        raise unreadable(path, f"its 'settings' is not valid JSON: {exc}", remedy) from None
    return out
