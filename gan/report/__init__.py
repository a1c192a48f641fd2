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

# Everything is imported on first use: pandas, scipy and matplotlib are heavy, and the workflow only needs the
# file layout (gan.report.layout) when it builds its DAG.
_EXPORTS = {
    "gan.report.aggregate": ("METRICS", "OBJECTIVE_ORDER", "MetricSpec", "aggregate_results", "collect_runs",
                             "collect_scores", "collect_training", "find_run_dirs", "is_toy_dataset", "metric_spec",
                             "objective_order", "primary_metric"),
    "gan.report.tables": ("make_tables", "tables_from_frames"),
    "gan.report.figures": ("make_figures", "PALETTE"),
    "gan.report.layout": ("expected_figures", "FIGURES"),
}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    import importlib

    for module, names in _EXPORTS.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'gan.report' has no attribute {name!r}")
