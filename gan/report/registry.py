"""Figures as registered units: what a figure is, and the plan of which figure files a benchmark draws.

A figure is one decorated draw function in one module (``gan/report/figures/<family>.py``, or a plugin file):

    @register_figure(stem="critic_{dataset}", per="dataset", inputs=("training", "scores"), caption="critic.rst")
    def critic(out_paths, fig, options, *, training, scores): ...

It declares its file `stem` (with ``{dataset}``, ``{objective}``, ``{seed}`` as `per` needs), what it is drawn
`per` ("benchmark": once, over all datasets; "dataset": once per dataset; "run": once per run), whether it shows
the toy (2-D points) datasets only (`toy_only`; a benchmark figure with no toy dataset is not drawn), the
`inputs` it reads (gan.report.inputs), its `caption` (an rst file: a name in workflow/report/, or an absolute
path, e.g. beside a plugin), and a `table` it writes beside itself, if any (the rows its draw function returns,
over every instance, in one CSV). The figures rule (workflow/rules/report.smk), its inputs and params
(:func:`figures_stage`) and :func:`gan.report.figures.make_figures` read the same :func:`plan_figures`, so the
files declared are the files written. Nothing here imports matplotlib or pandas: the DAG reads it.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from gan.layout import FIGURE_FORMATS
from gan.report.inputs import FIGURE_INPUTS, Benchmark

PER = ("benchmark", "dataset", "run")
_PLACEHOLDERS = {"benchmark": (), "dataset": ("dataset",), "run": ("dataset", "objective", "seed")}


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure (see the module docstring)."""

    stem: str
    per: str
    inputs: tuple[str, ...]
    caption: str
    draw: Callable[..., Any]
    toy_only: bool = False
    space: str | None = None  # drawn over the datasets scored in this feature space only (e.g. "inception")
    table: str | None = None
    table_caption: str | None = None
    stage: str = "figures"  # the rule that draws it; "figures" unless it is a stage of its own (figure1a)

    @property
    def module(self) -> str:
        """Where it is registered: its family's module in gan.report.figures, or a plugin's."""
        return self.draw.__module__


@dataclass(frozen=True)
class PlannedFigure:
    """One figure file stem to draw: the registration and what this instance shows."""

    spec: FigureSpec
    stem: str
    datasets: tuple[str, ...]  # benchmark: every (or every toy) dataset; dataset and run: the one dataset
    objective: str | None = None
    seed: int | None = None

    def paths(self, layout, formats: Sequence[str] = FIGURE_FORMATS) -> list[str]:
        return [layout.figure(self.stem, f, self.spec.stage) for f in formats]


FIGURES: dict[str, FigureSpec] = {}


def register_figure(*, stem: str, per: str, inputs: Iterable[str] = (), caption: str, toy_only: bool = False,
                    space: str | None = None, table: str | None = None, table_caption: str | None = None,
                    stage: str = "figures") -> Callable[[Callable], Callable]:
    """Register the decorated draw function as a figure. Refused at once: a stem registered twice, an unknown
    `per` or input, a stem without the placeholders its `per` needs."""
    def decorate(draw: Callable) -> Callable:
        where = f"figure {stem!r} ({draw.__module__}.{draw.__qualname__})"
        if stem in FIGURES:
            other = FIGURES[stem].draw
            raise ValueError(f"{where}: stem already registered by {other.__module__}.{other.__qualname__}")
        if per not in PER:
            raise ValueError(f"{where}: per {per!r}; valid: {', '.join(PER)}")
        unknown = [i for i in inputs if i not in FIGURE_INPUTS]
        if unknown:
            raise ValueError(f"{where}: unknown input {unknown[0]!r}; valid: {', '.join(FIGURE_INPUTS)}")
        needed = {f"{{{p}}}" for p in _PLACEHOLDERS[per]}
        if any(p not in stem for p in needed) or stem.count("{") != len(needed):
            raise ValueError(f"{where}: a figure drawn per {per} has a stem with exactly "
                             f"{', '.join(sorted(needed)) or 'no placeholder'}")
        if (table is None) != (table_caption is None):
            raise ValueError(f"{where}: a table needs its caption and a caption its table")
        FIGURES[stem] = FigureSpec(stem=stem, per=per, inputs=tuple(inputs), caption=caption, draw=draw,
                                   toy_only=toy_only, space=space, table=table, table_caption=table_caption,
                                   stage=stage)
        return draw

    return decorate


def _load_package_figures() -> None:
    """Import every module of gan.report.figures (each registers its figures): a new figure in the package is one
    new module there; plugin files register theirs when they are loaded (gan.plugins)."""
    import gan.report.figures as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def figure_specs(stage: str | None = "figures") -> list[FigureSpec]:
    """The registered figures of `stage` (None: every stage): the package's, then the plugins', each in the order
    they were registered."""
    _load_package_figures()
    specs = [s for s in FIGURES.values() if stage in (None, s.stage)]
    return sorted(specs, key=lambda s: not s.module.startswith("gan.report.figures."))


def figure_spec(stem: str) -> FigureSpec:
    _load_package_figures()
    if stem not in FIGURES:
        raise ValueError(f"no figure {stem!r}; registered: {', '.join(FIGURES)}")
    return FIGURES[stem]


def plan_figures(datasets: Sequence[str], toy_datasets: Iterable[str] = (),
                 runs: Iterable[tuple[str, str, int]] = (), stage: str = "figures",
                 spaces: Mapping[str, Sequence[str]] | None = None) -> list[PlannedFigure]:
    """Every figure file stem of a benchmark's `stage`, figure by figure; two instances with one stem (a dataset
    name that makes one figure's stem another's) are an error naming both. `spaces`: {dataset: the feature
    spaces it is scored in}, for figures of one space (a figure of a space no dataset has is not drawn)."""
    datasets = list(datasets)
    toy = [d for d in datasets if d in set(toy_datasets)]
    plan: list[PlannedFigure] = []
    for spec in figure_specs(stage):
        shown = toy if spec.toy_only else datasets
        if spec.space is not None:
            shown = [d for d in shown if spec.space in (spaces or {}).get(d, ())]
        if spec.per == "benchmark":
            plan += [PlannedFigure(spec, spec.stem, tuple(shown))] if shown else []
        elif spec.per == "dataset":
            plan += [PlannedFigure(spec, spec.stem.format(dataset=d), (d,)) for d in shown]
        else:
            plan += [PlannedFigure(spec, spec.stem.format(dataset=d, objective=o, seed=s), (d,), o, int(s))
                     for d, o, s in runs if d in shown]
    seen: dict[str, PlannedFigure] = {}
    for p in plan:
        if p.stem in seen:
            raise ValueError(f"figures {seen[p.stem].spec.stem!r} and {p.spec.stem!r} both draw {p.stem!r}")
        seen[p.stem] = p
    return plan


def figure_tables(plan: Sequence[PlannedFigure]) -> dict[str, FigureSpec]:
    """{table name: the figure that writes it} of a plan (one CSV per table, over all of its instances)."""
    return {p.spec.table: p.spec for p in plan if p.spec.table is not None}


def caption_path(caption: str, report_dir: str = "../report") -> str:
    """A caption as the rules give it to report(): a name in workflow/report/, or an absolute path as it is."""
    return caption if Path(caption).is_absolute() else f"{report_dir}/{caption}"


@dataclass(frozen=True)
class ReportedFile:
    """One output of the figures rule with its report entry (`in_report` False: an output the report does not
    list, such as a figure table's CSV beside the .html page that it shows)."""

    path: str
    caption: str  # as the rule passes it (relative to workflow/rules/, or absolute)
    labels: dict = field(hash=False)
    in_report: bool = True
    category: str = "Figures"  # the report's category: a figure's table is listed with the other tables


@dataclass(frozen=True)
class FiguresStage:
    """What the figures rule declares: its outputs (each with its caption and labels), its inputs
    {input name: declared files} and the value of each input make_figures is given {input name: value}."""

    outputs: list[ReportedFile]
    inputs: dict[str, str | list[str]]
    values: dict[str, Any]
    plan: list[PlannedFigure]


def figures_stage(benchmark: Benchmark, formats: Sequence[str] = FIGURE_FORMATS) -> FiguresStage:
    """The figures rule of `benchmark` (common.smk asks this; a test can too, in-process)."""
    plan = plan_figures(benchmark.datasets, benchmark.toy_datasets, benchmark.runs, spaces=benchmark.spaces)
    outputs = [ReportedFile(path, caption_path(p.spec.caption), {"figure": p.stem, "format": fmt})
               for p in plan for path, fmt in zip(p.paths(benchmark.layout, formats), formats)]
    outputs += [ReportedFile(benchmark.layout.figure_table(name, fmt=fmt), caption_path(spec.table_caption),
                             {"figure": name, "format": fmt}, in_report=fmt == "html", category="Tables")
                for name, spec in figure_tables(plan).items() for fmt in ("csv", "html")]
    needed = list(dict.fromkeys(i for p in plan for i in p.spec.inputs))
    inputs = {name: FIGURE_INPUTS[name].declared_files(benchmark) for name in needed}
    values = {name: FIGURE_INPUTS[name].value(benchmark) for name in needed}
    return FiguresStage(outputs, inputs, values, plan)
