"""Aggregation, tables, statistics and figures of a gan-bench results tree.

Entry points (what the Snakemake scripts call):

- ``aggregate_results(run_dirs, out_dir, complete_grid=True) -> {"scores"|"training"|"runs": Path}``
  reads ``results/runs/{dataset}/{objective}/seed{seed}/`` folders (a list, or one ``runs/`` root that is globbed)
  and writes ``scores.csv``, ``training.csv``, ``runs.csv`` into ``out_dir``.
- ``make_tables(tables_dir, out_dir=None, *, primary=None) -> {name: [Path]}``
  reads ``tables_dir/{scores,runs}.csv``; writes ``final_scores``, ``pairwise``, ``toy`` as .csv/.md/.tex and
  ``final_scores_all_metrics.csv`` into ``out_dir`` (default ``tables_dir``).
- ``make_figures(tables_dir, out_dir, *, datasets=None, formats=("pdf", "png"), which=FIGURES, primary=None,
  seed=None, loader=None, real_sampler=None) -> {stem: [Path]}``
  reads ``tables_dir/{scores,training,runs}.csv`` (runs.csv names the run folders, for checkpoints and samples);
  the files it writes are exactly ``expected_figures(out_dir, datasets, formats, which)``.

The metric registry (:data:`METRICS`: display name and direction of every metric) and the objective palette
(:data:`PALETTE`, in :data:`OBJECTIVE_ORDER`) are shared by tables and figures.
"""
from __future__ import annotations

from gan.report.aggregate import (METRICS, OBJECTIVE_ORDER, MetricSpec, aggregate_results, collect_runs,
                                  collect_scores, collect_training, find_run_dirs, is_toy_dataset, metric_spec,
                                  objective_order, primary_metric)
from gan.report.tables import make_tables, tables_from_frames

__all__ = [
    "METRICS", "OBJECTIVE_ORDER", "MetricSpec", "aggregate_results", "collect_runs", "collect_scores",
    "collect_training", "find_run_dirs", "is_toy_dataset", "metric_spec", "objective_order", "primary_metric",
    "make_tables", "tables_from_frames", "make_figures", "expected_figures", "PALETTE", "FIGURES",
]


def __getattr__(name: str):
    # figures pull in matplotlib/seaborn: imported only when asked for
    if name in ("make_figures", "expected_figures", "PALETTE", "FIGURES"):
        from gan.report import figures

        return getattr(figures, name)
    raise AttributeError(f"module 'gan.report' has no attribute {name!r}")
