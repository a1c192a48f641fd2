"""The file names the figures stage writes, known without importing matplotlib or pandas.

The Snakemake rules need this list when the DAG is built; keeping it light keeps `snakemake -n` fast.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

FIGURES = ("convergence", "critic", "toy", "samples", "distribution")


def expected_figures(out_dir: str | Path, datasets: Sequence[str], formats: Sequence[str] = ("pdf", "png"),
                     which: Sequence[str] = FIGURES) -> list[Path]:
    """Every file :func:`make_figures` writes for `datasets` (for Snakemake outputs)."""
    out_dir = Path(out_dir)
    stems = []
    if "convergence" in which:
        stems += ["convergence_steps", "convergence_wallclock"]
    if "critic" in which:
        stems += [f"critic_{d}" for d in datasets]
    if "toy" in which:
        stems += ["toy_critics"]
    if "samples" in which:
        stems += [f"samples_{d}" for d in datasets] + [f"samples_strip_{d}" for d in datasets]
    if "distribution" in which:
        stems += ["final_distribution"]
    paths = [out_dir / f"{s}.{f}" for s in stems for f in formats]
    if "critic" in which:
        paths.append(out_dir / "critic_correlation.csv")
    return paths
