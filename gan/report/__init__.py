"""Aggregation, tables, statistics and figures of a gan-bench results tree.

Entry points (what the Snakemake scripts call):

- ``aggregate_results(run_dirs, out_dir, complete_grid=True) -> {"scores"|"training"|"runs": Path}``
  reads ``results/runs/{dataset}/{objective}/seed{seed}/`` folders (a list, or one ``runs/`` root that is globbed)
  and writes ``scores.csv``, ``training.csv``, ``runs.csv`` into ``out_dir``.
- ``make_tables(tables_dir, out_dir=None, *, primary=None) -> {name: [Path]}``
  reads ``tables_dir/{scores,runs}.csv``; writes ``final_scores``, ``pairwise``, ``toy`` as .csv/.md/.tex and
  ``final_scores_all_metrics.csv`` into ``out_dir`` (default ``tables_dir``).
- ``make_figures(*, scores, training, runs, root, datasets, toy_datasets=(), samples=(), critic_grids=(),
  references=(), formats=("pdf", "png"), primary=None, seed=None) -> {stem: [Path]}``
  plots from the given files only (the tables, and the samples / critic-grid / reference npz files the figures
  rule declares, each with its identity as data: see ``gan.report.inputs.figure_inputs``); the files it writes
  are exactly ``gan.layout.Layout(root).figures(datasets, toy_datasets)``.

The metric registry (gan.metrics: display name, direction and floor of every output, via :func:`metric_spec`) and the objective palette
(:data:`PALETTE`, in :data:`OBJECTIVE_ORDER`) are shared by tables and figures.
"""
from __future__ import annotations

# Everything is imported on first use: pandas, scipy and matplotlib are heavy, and the workflow only needs the
# file layout (gan.layout) and the figures' input lists (gan.report.inputs) when it builds its DAG.
_EXPORTS = {
    "gan.report.aggregate": ("OBJECTIVE_ORDER", "MetricSpec", "aggregate_results", "collect_runs",
                             "collect_scores", "collect_training", "find_run_dirs", "is_toy_dataset", "metric_spec",
                             "objective_order", "primary_metric"),
    "gan.report.tables": ("make_tables", "tables_from_frames"),
    "gan.report.figures": ("make_figures", "PALETTE"),
    "gan.report.inputs": ("figure_inputs", "strip_steps"),
}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    import importlib

    for module, names in _EXPORTS.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'gan.report' has no attribute {name!r}")
