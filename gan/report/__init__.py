"""Aggregation, tables, statistics and figures of a gan-bench results tree.

Entry points (what the Snakemake scripts call):

- ``aggregate_results(run_dirs, out_dir, complete_grid=True) -> {"scores"|"training"|"runs"|"floors"[_html]: Path}``
  reads ``results/{experiment}/runs/{dataset}/{objective}/seed{seed}/`` folders (a list, or one ``runs/`` root that
  is globbed)
  and writes ``scores``, ``training``, ``runs``, ``floors`` into ``out_dir``, each as .csv and .html (its page in the
  report).
- ``make_tables(tables_dir, out_dir=None, *, primary=None) -> {name: [Path]}``
  reads ``tables_dir/{scores,runs,floors}.csv``; writes ``final_scores``, ``pairwise``, ``toy`` as .csv/.md/.tex/.html
  and ``final_scores_all_metrics.csv|html`` into ``out_dir`` (default ``tables_dir``): ``gan.layout.Layout.tables``.
- ``make_figures(*, root, datasets, toy_datasets=(), runs=(), inputs, formats=("pdf", "png"), primary=None,
  seed=None) -> {stem: [Path]}`` draws the registered figures (gan.report.registry, one module per family in
  gan.report.figures) from the given files only, each with its identity as data (gan.report.inputs); the files
  it writes are the plan's, the ones the figures rule declares (``gan.report.registry.figures_stage``).

The metric registry (gan.metrics: display name, direction and floor of every output, via :func:`metric_spec`) and
the objectives' registrations (gan.objectives: colour, marker and order, ``Display``) are shared by tables and
figures.
"""
from __future__ import annotations

# Everything is imported on first use: pandas, scipy and matplotlib are heavy, and the workflow only needs the
# file layout (gan.layout) and the figures' registrations and inputs (gan.report.registry, gan.report.inputs)
# when it builds its DAG.
_EXPORTS = {
    "gan.report.aggregate": ("MetricSpec", "aggregate_results", "collect_runs", "collect_scores",
                             "collect_training", "find_run_dirs", "is_toy_dataset", "metric_spec",
                             "objective_order", "primary_metric"),
    "gan.report.tables": ("make_tables", "tables_from_frames"),
    "gan.report.figures": ("make_figures",),
    "gan.report.registry": ("register_figure", "plan_figures", "figures_stage"),
    "gan.report.inputs": ("Benchmark", "register_input", "strip_steps"),
}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    import importlib

    for module, names in _EXPORTS.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'gan.report' has no attribute {name!r}")
