"""The figures: one module per figure family, each figure registered where it is drawn (gan.report.registry).

- ``convergence``: ``convergence_steps``, ``convergence_wallclock``;
- ``inception_score``: ``inception_score`` (IS against iterations and wall-clock: WGAN-GP's Figure 3);
- ``critic``: ``critic_{dataset}`` and its table ``critic_correlation.csv``;
- ``toy_critics``: ``toy_critics`` (toy datasets only);
- ``samples``: ``samples_{dataset}``, ``samples_strip_{dataset}``;
- ``final_distribution``: ``final_distribution``;
- ``figure1a``: WGAN-GP Figure 1(a), a stage of its own (workflow/rules/figure1a.smk);
- ``papers``: ``wgan_example1``, ``wgan_figure2``, ``wgangp_figure1b``, each a stage of its own
  (workflow/rules/papers.smk);
- ``style``: what they share (style, the objectives' colours and markers, saving, the declared input files).

:func:`make_figures` draws the plan of the figures stage from the files it is given. Importing this package is
light (the DAG imports the figure modules for their registrations); the plotting libraries load when drawing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from gan.layout import FIGURE_FORMATS, Layout


@dataclass(frozen=True)
class FigureOptions:
    """What every figure may use besides its inputs: the headline metric (`primary`: one name or {dataset:
    name}; default: the metric registry's), the seed one-seed figures show (default: the lowest finished one),
    and the number of points a scatter shows."""

    primary: Any = None
    seed: int | None = None
    n_points: int = 1000


def make_figures(*, root: str | Path, datasets: Sequence[str], toy_datasets: Sequence[str] = (),
                 runs: Sequence[tuple[str, str, int]] = (), inputs: Mapping[str, Any],
                 spaces: Mapping[str, Sequence[str]] | None = None,
                 formats: Sequence[str] = FIGURE_FORMATS, primary=None, seed: int | None = None,
                 n_points: int = 1000) -> dict[str, list[Path]]:
    """Every figure of the figures stage, from the given files only (what the figures rule declares).

    The figures drawn are ``gan.report.registry.plan_figures(datasets, toy_datasets, runs)``, into
    ``gan.layout.Layout(root)``'s paths in `formats`: the files the rule declares (figures_stage). `runs`:
    (dataset, objective, seed) of the grid, for the figures drawn per run; `spaces`: {dataset: its feature
    spaces}, for the figures of one space. `inputs`: {input name: value} as the
    rule's params give them (gan.report.inputs: a table's path, or records {"dataset", "objective", "seed",
    "step", "path"} of per-run files); an input not given is empty (a panel says what is missing). Returns
    {figure stem: [paths]}, and {table name: [csv, html]} for the tables figures write beside themselves.
    """
    from gan.report.aggregate import write_csv
    from gan.report.figures.style import pd
    from gan.report.inputs import FIGURE_INPUTS
    from gan.report.registry import figure_tables, plan_figures
    from gan.report.tables import write_html

    unknown = sorted(set(inputs) - set(FIGURE_INPUTS))
    if unknown:
        raise ValueError(f"unknown figure input {unknown[0]!r}; valid: {', '.join(FIGURE_INPUTS)}")
    layout = Layout(str(root))
    options = FigureOptions(primary=primary, seed=seed, n_points=n_points)
    loaded: dict[str, Any] = {}

    def load(name: str) -> Any:  # each input once, when a figure first needs it
        if name not in loaded:
            spec = FIGURE_INPUTS[name]
            loaded[name] = spec.load(inputs.get(name, spec.empty))
        return loaded[name]

    plan = plan_figures(datasets, toy_datasets, runs, spaces=spaces)
    out: dict[str, list[Path]] = {}
    rows: dict[str, list] = {name: [] for name in figure_tables(plan)}
    for fig in plan:
        paths = [Path(p) for p in fig.paths(layout, formats)]
        result = fig.spec.draw(paths, fig, options, **{name: load(name) for name in fig.spec.inputs})
        out[fig.stem] = paths
        if fig.spec.table is not None:
            rows[fig.spec.table].append(result)
    tables = figure_tables(plan)
    for name, frames in rows.items():
        # one CSV over every instance (the columns of the first when none has rows), and its page in the report
        table = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) \
            else frames[0]
        out[name] = [write_csv(table, Path(layout.figure_table(name))),
                     write_html(table, layout.figure_table(name, fmt="html"),
                                f"{name}: the table of the figure {tables[name].stem}")]
    return out
