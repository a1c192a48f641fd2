"""What the figures stage reads, known when the DAG is built (no matplotlib, pandas or torch here).

The figures rule declares every file a figure plots; this module says which ones, and gives each one its
identity as data (dataset, objective, seed, step), aligned with the file lists, so nothing downstream parses a
path or globs a run folder:

- ``samples``: the samples npz of every run at the checkpoints the sample strips show (at most
  :data:`MAX_STRIP_STEPS`, evenly spaced, always the last configured one, which the sample figures show); the
  per-run `sample` job writes them and declares them in its index, listed in ``sample_indices``;
- ``critic_grids``: for toy (2-D points) datasets, the critic grid of every run at its last configured checkpoint;
- ``references``: for toy datasets, the reference npz of real points (array ``points``).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from gan.layout import Layout

MAX_STRIP_STEPS = 6


def strip_steps(steps: Iterable[int], max_steps: int = MAX_STRIP_STEPS) -> list[int]:
    """At most `max_steps` of the sorted `steps`, evenly spaced, always the first and the last."""
    s = sorted(set(int(x) for x in steps))
    if len(s) <= max_steps:
        return s
    if max_steps < 2:
        return s[-1:]
    idx = sorted({round(i * (len(s) - 1) / (max_steps - 1)) for i in range(max_steps)})
    return [s[i] for i in idx]


def figure_inputs(layout: Layout, runs: Iterable[tuple[str, str, int]], checkpoint_steps: Mapping[str, Sequence[int]],
                  toy_datasets: Iterable[str], references: Mapping[str, str],
                  max_strip_steps: int = MAX_STRIP_STEPS) -> dict[str, list]:
    """The figures rule's file lists and, aligned with them, the identity of each file.

    `runs`: (dataset, objective, seed) of the grid; `checkpoint_steps`: the configured steps of each dataset;
    `toy_datasets`: the datasets of 2-D points; `references`: the real-points reference file of each toy dataset.
    Returns {"samples", "samples_meta", "sample_indices", "critic_grids", "critic_grids_meta", "references",
    "references_meta"}.
    """
    toy = set(toy_datasets)
    runs = list(runs)
    out: dict[str, list] = {k: [] for k in ("samples", "samples_meta", "sample_indices", "critic_grids",
                                            "critic_grids_meta", "references", "references_meta")}
    for dataset, objective, seed in runs:
        files = layout.run(dataset, objective, seed)
        steps = strip_steps(checkpoint_steps[dataset], max_strip_steps)
        out["sample_indices"].append(str(files.samples_index))
        for step in steps:
            out["samples"].append(str(files.samples(step)))
            out["samples_meta"].append({"dataset": dataset, "objective": objective, "seed": int(seed),
                                        "step": int(step)})
        if dataset in toy and steps:
            out["critic_grids"].append(str(files.critic_grid(steps[-1])))
            out["critic_grids_meta"].append({"dataset": dataset, "objective": objective, "seed": int(seed),
                                             "step": int(steps[-1])})
    for dataset in dict.fromkeys(d for d, _, _ in runs if d in toy):
        out["references"].append(str(references[dataset]))
        out["references_meta"].append({"dataset": dataset})
    return out
