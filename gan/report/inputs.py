"""What the figures read, known when the DAG is built (no matplotlib, pandas or torch here).

A figure names the inputs it needs (`@register_figure(inputs=...)`); each input is one registered unit here: the
files the figures rule declares for it, the value `make_figures` is given for it (a table's path, or the records
of per-run files with their identity as data: dataset, objective, seed, step), and how that value is loaded. So
nothing downstream parses a path or globs a run folder. The built-in inputs:

- ``scores``, ``training``, ``runs``, ``floors``: the aggregate tables (CSV);
- ``samples``: the samples npz of every run at the checkpoints the sample strips show (at most
  :data:`MAX_STRIP_STEPS`, evenly spaced, always the last configured one, which the sample figures show); the
  per-run `sample` job writes them and declares them in its index, which is what the rule declares;
- ``critic_grids``: for toy (2-D points) datasets, the critic grid of every run at its last configured checkpoint;
- ``references``: for toy datasets, the reference npz of real points (array ``points``);
- ``real_data``: every dataset's prepared data file (what `prepare_data` writes), with the split and seed the
  scoring draws its real subset with: the samples figures' real-data panel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from gan.layout import AGGREGATES, Layout
from gan.schema import default

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


@dataclass(frozen=True)
class Benchmark:
    """What the figures are planned from: the grid as data (the DAG builds it from its grid, tests by hand).

    `runs`: (dataset, objective, seed) of every run; `checkpoint_steps`: the configured steps of each dataset;
    `toy_datasets`: the datasets of 2-D points (from the registry's kinds, never from names); `references`: the
    real-points reference file of each toy dataset; `spaces`: the feature spaces each dataset is scored in;
    `real_split`, `eval_seed`: the split and seed the scoring draws real data with (`scoring:` in the config).
    """

    layout: Layout
    datasets: tuple[str, ...]
    runs: tuple[tuple[str, str, int], ...] = ()
    toy_datasets: tuple[str, ...] = ()
    checkpoint_steps: Mapping[str, Sequence[int]] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)
    spaces: Mapping[str, Sequence[str]] = field(default_factory=dict)  # {dataset: its feature spaces}
    real_split: str = field(default_factory=lambda: default("scoring", "reference_split"))
    eval_seed: int = field(default_factory=lambda: default("scoring", "eval_seed"))

    def __post_init__(self):
        for name in ("datasets", "toy_datasets"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "runs", tuple((str(d), str(o), int(s)) for d, o, s in self.runs))

    @classmethod
    def from_grid(cls, grid) -> "Benchmark":
        """The benchmark of a `gan.grid.BenchmarkGrid` (what common.smk plans the figures rule from)."""
        toy = grid.toy_datasets
        return cls(layout=grid.layout, datasets=grid.datasets, runs=grid.runs(), toy_datasets=toy,
                   checkpoint_steps={d: grid.checkpoint_steps(d) for d in grid.datasets},
                   references={d: grid.reference_paths(d)["points"] for d in toy},
                   spaces={d: list(grid.reference_paths(d)) for d in grid.datasets},
                   real_split=grid.reference_split(), eval_seed=grid.eval_seed)


@dataclass(frozen=True)
class FigureInput:
    """One input of the figures: its name (what a figure lists in `inputs`), `value(benchmark)`: what
    make_figures is given (a path, or a list of records {..identity.., "path"}); `declared(benchmark)`: the files
    the figures rule declares for it (default: the paths of the value); `load(value)`: what the figure's draw
    function receives (imports what it needs itself: the DAG never calls it)."""

    name: str
    value: Callable[[Benchmark], Any]
    load: Callable[[Any], Any]
    declared: Callable[[Benchmark], list[str]] | None = None
    empty: Any = ()  # the value when make_figures is not given one

    def declared_files(self, benchmark: Benchmark) -> str | list[str]:
        """One path (the rule's input of that name is then a path) or a list of them."""
        if self.declared is not None:
            return list(self.declared(benchmark))
        value = self.value(benchmark)
        return str(value) if isinstance(value, str) else [str(r["path"]) for r in value]


FIGURE_INPUTS: dict[str, FigureInput] = {}


def register_input(name: str, *, value: Callable[[Benchmark], Any], load: Callable[[Any], Any],
                   declared: Callable[[Benchmark], list[str]] | None = None, empty: Any = ()) -> FigureInput:
    """Register an input kind (a plugin may add one for its figure); a name given twice is an error."""
    if name in FIGURE_INPUTS:
        raise ValueError(f"figure input {name!r} is registered twice")
    FIGURE_INPUTS[name] = FigureInput(name, value, load, declared, empty)
    return FIGURE_INPUTS[name]


# --- the built-in inputs ---------------------------------------------------------------------------------------


def _load_table(path):
    from gan.report.figures.style import load_table

    return load_table(path)


def _load_optional_table(path):
    from gan.report.figures.style import load_table

    return load_table(path, empty_when_missing=False)


def _load_files(records):
    from gan.report.figures.style import InputFiles

    return InputFiles(records)


def _load_points(records):
    from gan.report.figures.style import load_points

    return load_points(records)


def _load_real_data(records):
    from gan.report.figures.samples import RealData

    return RealData(records)


for _name in AGGREGATES:
    # floors: no table means no floor band (None), the others: an empty table with the identity columns
    register_input(_name, value=lambda b, _name=_name: b.layout.aggregate(_name),
                   load=_load_optional_table if _name == "floors" else _load_table, empty=None)


def _samples(b: Benchmark) -> list[dict]:
    return [{"dataset": d, "objective": o, "seed": s, "step": step, "path": str(b.layout.run(d, o, s).samples(step))}
            for d, o, s in b.runs for step in strip_steps(b.checkpoint_steps[d])]


def _sample_indices(b: Benchmark) -> list[str]:
    # the samples npz are listed by their run's samples index, the sample job's declared output
    return [str(b.layout.run(d, o, s).samples_index) for d, o, s in b.runs]


def _critic_grids(b: Benchmark) -> list[dict]:
    out = []
    for d, o, s in b.runs:
        steps = strip_steps(b.checkpoint_steps[d])
        if d in b.toy_datasets and steps:
            out.append({"dataset": d, "objective": o, "seed": s, "step": steps[-1],
                        "path": str(b.layout.run(d, o, s).critic_grid(steps[-1]))})
    return out


def _references(b: Benchmark) -> list[dict]:
    toy = dict.fromkeys(d for d, _, _ in b.runs if d in b.toy_datasets)
    return [{"dataset": d, "path": str(b.references[d])} for d in toy]


def _real_data(b: Benchmark) -> list[dict]:
    return [{"dataset": d, "kind": "points" if d in b.toy_datasets else "images", "split": b.real_split,
             "seed": b.eval_seed, "path": b.layout.prepared(d)} for d in b.datasets]


register_input("samples", value=_samples, declared=_sample_indices, load=_load_files)
register_input("critic_grids", value=_critic_grids, load=_load_files)
register_input("references", value=_references, load=_load_points)
register_input("real_data", value=_real_data, load=_load_real_data)
