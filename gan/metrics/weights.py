"""Downloading an extractor's weights once (the DAG's `fetch_<extractor>` rules, `python -m gan fetch-weights`).

The only code that touches the network for scoring: score and reference jobs only read the file.
"""
from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from gan import atomic
from gan.metrics.reference import sha256_file
from gan.metrics.registry import Download, extractor


def fetch_weights(name: str, dest: str | Path | None = None, timeout: float = 120.0) -> Path:
    """Download extractor `name`'s weights to `dest` (default: where the schema puts them) atomically, check them
    (the pinned sha256, the extractor's own check) and return the path. An existing file is kept as it is."""
    cls = extractor(name)
    weights = cls.weights
    if not isinstance(weights, Download):
        how = f"trained by the rule {weights.rule}" if weights is not None else "none"
        raise ValueError(f"extractor {name!r} has no weights to download (its weights: {how})")
    dest = Path(dest if dest is not None else weights.default_path())
    if dest.name != weights.file_name:
        raise ValueError(f"{dest}: extractor {name!r} loads its weights by their file name; dest must end in "
                         f"{weights.file_name}")
    if dest.exists():
        return dest
    with atomic.atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(weights.url, timeout=timeout) as response, open(tmp, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except OSError as err:
            raise RuntimeError(f"could not download {weights.url} ({err}); on a machine with network access "
                               f"download it and place it at {dest}") from err
        digest = sha256_file(tmp)
        if weights.sha256 and digest != weights.sha256:
            raise RuntimeError(f"{weights.url}: sha256 {digest} is not the pinned {weights.sha256}: nothing placed "
                               f"at {dest}")
        cls.check_weights(Path(tmp))
    return dest
