"""What a feature extractor and a metric are: one registered unit each, describing itself.

- `@register_extractor("name")` on an :class:`Extractor` subclass: a feature space. It declares the named features
  one pass over the samples gives (`provides`), its protocol variants (`modes`, and the `scoring:` key that picks
  one), its weights (a :class:`Download` the DAG fetches once, or :class:`Trained` weights a rule makes per
  dataset), the data it reads (`kind`) and whether its jobs want a GPU. The schema, the grid, the CLI, the fetch
  and reference rules and the job sizes read these.
- `@register_metric("name", feature=...)` on `fn(ctx) -> {key: float}`: a metric asks for a named feature, never
  for an extractor, and runs in every feature space that provides it. `outputs` declares every key it returns
  (label, direction, unit, floor, rank); a metric that runs in several spaces writes `{key}_{space}` unless `names`
  gives a space its own key (Inception's `fid`). `reference(features)` declares arrays computed once per reference
  file from the real data's feature (the FD's mean, covariance and its square root). Two metrics (or one metric
  in two spaces) writing one key is refused when the second is registered.

Imports neither torch nor numpy: the DAG reads these registries at build time.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from gan import schema

if TYPE_CHECKING:
    import numpy as np

    from gan.layout import Layout
    from gan.metrics.scoring import ScoreContext

KINDS = ("images", "points")


# ------------------------------------------------------------------------------------------------ extractors

@dataclass(frozen=True)
class Feature:
    """A named feature an extractor gives for every sample."""
    dim: int | None  # None: set by the weights (a trained classifier's sizes)
    help: str


@dataclass(frozen=True)
class Download:
    """Weights downloaded once from `url` by the DAG's `fetch_<extractor>` rule (score jobs never download)."""
    file_name: str
    url: str
    sha256: str | None = None  # pinned: a download with another digest is refused
    setting: str | None = None  # the `scoring:` key placing the file (its default: config/schema.yaml)

    def path(self, layout: Layout, dataset: str, scoring: dict[str, Any]) -> str:
        return scoring[self.setting] if self.setting else layout.weights(self.file_name)

    def default_path(self) -> str:
        """Where the file is when no config says (the API's and the CLI's default)."""
        from gan.layout import Layout

        return schema.default("scoring", self.setting) if self.setting else Layout().weights(self.file_name)


@dataclass(frozen=True)
class Trained:
    """Weights trained per dataset by the Snakemake rule `rule`, at gan.layout's path `path_of(layout, dataset)`."""
    rule: str
    path_of: Callable[[Layout, str], str]

    def path(self, layout: Layout, dataset: str, scoring: dict[str, Any]) -> str:
        return self.path_of(layout, dataset)

    def default_path(self) -> None:
        return None


class Extractor:
    """A feature space. Subclass, set the class attributes, implement `__init__`, `extract` and `describe`."""
    name: ClassVar[str]  # set by @register_extractor
    kind: ClassVar[str]  # "images" | "points": the data it reads
    provides: ClassVar[dict[str, Feature]]  # the named features of one pass (`extract` gives those asked for)
    modes: ClassVar[tuple[str, ...]]  # protocol variants (clean-fid's resize), written in reference names
    mode_setting: ClassVar[str | None] = None  # the `scoring:` key choosing the mode; None: its first mode
    weights: ClassVar[Download | Trained | None] = None
    reference_features: ClassVar[tuple[str, ...]] = ()  # features its own `reference_arrays` read
    gpu: ClassVar[bool] = False  # its reference jobs ask for a GPU
    default_n_real: ClassVar[int | None] = None  # real samples of a reference when none is asked (None: the split)

    # __init__(mode, weights_path, device, batch_size, num_workers): load the weights once

    def extract(self, samples: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
        """The `wanted` features of `samples` (a feature these weights cannot give is left out)."""
        raise NotImplementedError

    def reference_arrays(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Arrays of the extractor's own in a reference file (the toy points: figures show them)."""
        return {}

    def describe(self) -> dict:
        """What the reference and score files record: weights path and sha256, device."""
        raise NotImplementedError

    @classmethod
    def check_weights(cls, path) -> None:
        """Refuse a downloaded file that cannot be these weights (before it lands in place); the default trusts
        the download (and its sha256 when pinned)."""

    @classmethod
    def protocol_mode(cls, scoring: dict[str, Any]) -> str:
        """The mode a benchmark's scoring protocol uses (its validated `scoring:` block)."""
        return scoring[cls.mode_setting] if cls.mode_setting else cls.modes[0]

    @classmethod
    def default_mode(cls) -> str:
        return schema.default("scoring", cls.mode_setting) if cls.mode_setting else cls.modes[0]


EXTRACTORS: dict[str, type[Extractor]] = {}


def register_extractor(name: str):
    """Register an :class:`Extractor` subclass as feature space `name` (checked against the metrics' keys)."""
    def wrap(cls):
        if name in EXTRACTORS:
            raise ValueError(f"extractor {name!r} is registered twice")
        if cls.kind not in KINDS:
            raise ValueError(f"extractor {name!r}: kind {cls.kind!r} is not one of {', '.join(KINDS)}")
        if not cls.provides or not cls.modes:
            raise ValueError(f"extractor {name!r} declares no features or no modes")
        cls.name = name
        _add_checked(EXTRACTORS, name, cls, "extractor")
        return cls
    return wrap


def extractor(name: str) -> type[Extractor]:
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; valid: {', '.join(sorted(EXTRACTORS))}")
    return EXTRACTORS[name]


def build_extractor(name: str, mode: str | None = None, weights_path=None, device: str = "auto",
                    batch_size: int = 64, num_workers: int = 0) -> Extractor:
    cls = extractor(name)
    mode = mode or cls.default_mode()
    if mode not in cls.modes:
        raise ValueError(f"extractor {name!r} has no mode {mode!r}; valid: {', '.join(cls.modes)}")
    if weights_path is None and cls.weights is not None:
        weights_path = cls.weights.default_path()
    return cls(mode=mode, weights_path=weights_path, device=device, batch_size=batch_size, num_workers=num_workers)


# ------------------------------------------------------------------------------------------------ metrics

@dataclass(frozen=True)
class Output:
    """One number a metric writes, as tables and figures show it."""
    label: str  # display name (tables, axis labels)
    higher_is_better: bool | None  # None: not a score (e.g. an uncertainty), never ranked
    unit: str = ""  # shown in axis labels, e.g. "fraction"
    #: its real-vs-real value (real samples scored against the reference at the same N and protocol) is the
    #: best a generator can expect: the metric's floor
    floor: bool = False
    #: headline order: a dataset's primary metric is its lowest-ranked output with values
    rank: int = 100


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[ScoreContext], dict[str, float]]
    feature: tuple[str, ...]  # the feature it reads; alternatives: the first one a space provides
    outputs: dict[str, Output]
    per_space: bool = False  # runs in several spaces: its keys are `{key}_{space}` (but `names`)
    names: dict[str, dict[str, tuple[str, Output]]] = field(default_factory=dict)  # {space: {key: (key, Output)}}
    spaces: tuple[str, ...] | None = None  # only these spaces (None: every one providing the feature)
    reference: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None  # arrays of the real data's feature
    applies: Callable[[ScoreContext], bool] | None = None  # a condition on the data (e.g. toy centres exist)

    def feature_in(self, space: str) -> str | None:
        """The feature it reads in `space`, or None where it does not run."""
        if self.spaces is not None and space not in self.spaces:
            return None
        provided = extractor(space).provides
        return next((f for f in self.feature if f in provided), None)

    def outputs_in(self, space: str) -> dict[str, tuple[str, Output]]:
        """{key it returns: (key written in `space`, Output)}."""
        named = self.names.get(space, {})
        out = {}
        for key, output in self.outputs.items():
            if key in named:
                out[key] = named[key]
            elif self.per_space:
                out[key] = (f"{key}_{space}", Output(f"{output.label} ({space} features)", output.higher_is_better,
                                                     output.unit, output.floor, output.rank))
            else:
                out[key] = (key, output)
        return out


METRICS: dict[str, Metric] = {}


def register_metric(name: str, *, feature: str | tuple[str, ...], outputs: dict[str, Output],
                    per_space: bool = False, names: dict[str, dict[str, tuple[str, Output]]] | None = None,
                    spaces: tuple[str, ...] | None = None,
                    reference: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
                    applies: Callable[[ScoreContext], bool] | None = None):
    """Register `fn(ctx) -> {key: value}` as metric `name`, run on `feature` in every space that provides it.

    `outputs` declares every key it returns; `names` ({space: {key: (written key, Output)}}) keeps the names users
    know in a space; `reference(real_features) -> {array: value}` adds arrays to every reference of its spaces.
    """
    feature = (feature,) if isinstance(feature, str) else tuple(feature)
    bad = sorted(set(k for named in (names or {}).values() for k in named) - set(outputs))
    if bad:
        raise ValueError(f"metric {name!r}: names {bad} are not among its outputs")

    def wrap(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")

        @functools.wraps(fn)  # the report names the code behind each number (gan.report.tables.code_notes)
        def checked(ctx):
            values = fn(ctx)
            undeclared = sorted(set(values) - set(outputs))
            if undeclared:
                raise ValueError(f"metric {name!r} returned undeclared output(s) {undeclared}")
            return values

        _add_checked(METRICS, name, Metric(name=name, fn=checked, feature=feature, outputs=dict(outputs),
                                           per_space=per_space, names=dict(names or {}),
                                           spaces=None if spaces is None else tuple(spaces), reference=reference,
                                           applies=applies), "metric")
        return fn
    return wrap


def metric_keys() -> dict[str, tuple[Metric, str, Output]]:
    """{written key: (metric, space, Output)} over every registered metric and every space it runs in."""
    keys: dict[str, tuple[Metric, str, Output]] = {}
    for metric in METRICS.values():
        for space in EXTRACTORS:
            if metric.feature_in(space) is None:
                continue
            for key, output in metric.outputs_in(space).values():
                if key in keys:
                    other, other_space, _ = keys[key]
                    raise ValueError(f"output {key!r} would be written by metric {other.name!r} in space "
                                     f"{other_space!r} and by metric {metric.name!r} in space {space!r}")
                keys[key] = (metric, space, output)
    return keys


def _add_checked(table: dict, name: str, entry: Any, what: str) -> None:
    """Register `entry` in `table` unless the output keys would then clash; a refused registration leaves the
    registries as they were."""
    table[name] = entry
    try:
        _check_output_keys()
    except ValueError as err:
        del table[name]
        raise ValueError(f"{what} {name!r}: {err}") from None


def _check_output_keys() -> None:
    metric_keys()


def metric_outputs() -> dict[str, Output]:
    """Every output key of every registered metric in every space it runs in (the columns of scores.csv)."""
    return {key: output for key, (_, _, output) in metric_keys().items()}


def metrics_in(space: str) -> list[Metric]:
    """The metrics that run in `space`, in registration order."""
    return [m for m in METRICS.values() if m.feature_in(space) is not None]
