"""The benchmark grid as the Snakemake workflow sees it: dataset entries x objective entries x run seeds.

A dataset entry is a named instance of a registered dataset with options (two image folders, MNIST at two sizes);
an objective entry is a registered objective or a named variant of one with its own hyper-parameters and model
settings (e.g. a WGAN whose critic uses BatchNorm). Snakemake validates the config's structure against
config/schema.yaml; this module checks what the schema cannot (names of datasets, objectives and extractors,
extractor modes and hyper-parameters against the registries, every run's resolved settings) and names the bad
key. It reads the config with the schema's defaults filled in (gan.schema), never defaults of its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .config import MODEL_KEYS, ConfigError, TrainConfig, resolve
from .datasets import DatasetSpec, dataset_spec
from .layout import Layout, results_root
from .metrics.registry import EXTRACTORS, Download, Extractor
from .objectives import OBJECTIVES
from .provenance import config_hash
from .schema import with_defaults
from .wgan_examples import STAGES as PAPER_STAGES

# entry and experiment names become folder names, table cells and MLflow search filters: plain file names only
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(where: str, name: Any) -> str:
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ConfigError(f"{where}: the name {name!r} is not allowed: use letters, digits, '.', '_' and '-', "
                          "starting with a letter or digit (it names folders and MLflow runs)")
    return name


def _check_toy_dataset(key: str, name: str) -> None:
    """A stage's dataset must be a registered 2-D toy dataset: one line naming `key` otherwise."""
    try:
        kind = dataset_spec(name).kind
    except ValueError as err:
        raise ConfigError(f"{key}: {err}") from None
    if kind != "points":
        raise ConfigError(f"{key}: {name!r} is not a 2-D toy dataset ({kind})")


@dataclass
class ObjectiveEntry:
    name: str  # the entry's name: run folders, tables, MLflow
    objective: str  # the registered objective
    settings: dict[str, Any] = field(default_factory=dict)  # its hyper-parameter overrides
    model: dict[str, Any] = field(default_factory=dict)  # model settings of this objective (e.g. critic_norm)
    datasets: tuple[str, ...] | None = None  # the dataset entries it runs on (None: every one)


@dataclass
class DatasetEntry:
    name: str
    spec: DatasetSpec  # the registered dataset with its options
    config: dict[str, Any]  # the entry's config block

    @property
    def kind(self) -> str:
        return self.spec.kind


def typed_overrides(config: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Type the values of `--config` overrides as a YAML config file would (`seeds=[0,1]` -> [0, 1]).

    Snakemake parses a `--config` value with int, float, then YAML's BaseLoader, which keeps every scalar inside a
    list or mapping a string ('0'). Only the keys given on the command line are retyped, in place: a string in a
    config file is never touched."""
    import yaml

    def retype(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: retype(v) for k, v in value.items()}
        if isinstance(value, list):
            return [retype(v) for v in value]
        if isinstance(value, str):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return value
            return parsed if isinstance(parsed, (bool, int, float)) or parsed is None else value
        return value

    for key in overrides or {}:
        if key in config:
            config[key] = retype(config[key])
    return config


def _split_settings(where: str, settings: dict[str, Any]) -> tuple[dict, dict]:
    """objective_settings values: hyper-parameters, plus an optional `model:` mapping of model settings."""
    settings = dict(settings or {})
    model = dict(settings.pop("model", None) or {})
    bad = sorted(set(model) - set(MODEL_KEYS))
    if bad:
        raise ConfigError(f"{where}.model: unknown model setting(s) {', '.join(bad)}; valid: {', '.join(MODEL_KEYS)}")
    return settings, model


class BenchmarkGrid:
    def __init__(self, config: dict[str, Any]):
        from .plugins import load_plugins

        self.config = config
        if "experiment" in config:
            check_name("experiment", config["experiment"])
        load_plugins(config.get("plugins", []))
        # what the schema leaves unset, as Snakemake's validation fills it (a no-op on the DAG's validated config)
        settings = with_defaults(config)
        self.layout = Layout(results_root(settings["results_dir"], config.get("experiment")), settings["resources_dir"])
        self.scoring = settings["scoring"]
        self.eval_seed = int(self.scoring["eval_seed"])
        self.device = settings["device"]
        self.seeds = list(config["seeds"])
        self.objective_entries = self._objective_entries(config["objectives"])
        self.dataset_entries = self._dataset_entries(settings["datasets"])
        self.objectives = list(self.objective_entries)
        self.datasets = list(self.dataset_entries)
        self._validate()
        self.figure1a = self._figure1a_settings()
        self.papers = self._paper_stage_settings(settings)
        self._warn_device()

    # --- entries -----------------------------------------------------------------------------------------------

    def _objective_entries(self, items) -> dict[str, ObjectiveEntry]:
        entries: dict[str, ObjectiveEntry] = {}
        valid = ", ".join(sorted(OBJECTIVES))
        for i, item in enumerate(items):
            if isinstance(item, str):
                item = {"name": item, "objective": item}
            where = f"objectives[{i}] ({item.get('name')})"
            name, base = check_name(where, item.get("name")), item.get("objective", item.get("name"))
            if base not in OBJECTIVES:
                raise ConfigError(f"{where}: unknown objective {base!r}; valid: {valid}")
            if name in entries:
                raise ConfigError(f"{where}: the name {name!r} is used twice")
            settings, model = _split_settings(where, {**item.get("settings", {}), "model": item.get("model", {})})
            only = item.get("datasets")
            entries[name] = ObjectiveEntry(name, base, settings, model, None if only is None else tuple(only))
        return entries

    def objectives_of(self, dataset: str) -> list[str]:
        """The objective entries that run on `dataset` (an entry's `datasets:` restricts it; default: all)."""
        return [o for o, e in self.objective_entries.items() if e.datasets is None or dataset in e.datasets]

    def _dataset_entries(self, blocks: dict[str, Any]) -> dict[str, DatasetEntry]:
        entries = {}
        for name, block in blocks.items():
            check_name(f"datasets.{name}", name)
            registered = block.get("dataset", name)
            try:
                spec = dataset_spec(registered, **block.get("options", {}))
            except ValueError as err:
                raise ConfigError(f"datasets.{name}: {err}") from None
            entries[name] = DatasetEntry(name, spec, block)
        return entries

    # --- validation ------------------------------------------------------------------------------------------

    def _validate(self) -> None:
        for name, entry in self.objective_entries.items():
            unknown = [d for d in entry.datasets or () if d not in self.dataset_entries]
            if unknown:
                raise ConfigError(f"objectives ({name}).datasets: {unknown[0]!r} is not a dataset entry of this "
                                  f"config; entries: {', '.join(self.dataset_entries)}")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ConfigError(f"seeds: {seed!r} is not an integer")
        for key, settings in self._all_objective_settings():
            for name, values in settings.items():
                if name not in self.objective_entries:
                    raise ConfigError(f"{key}: {name!r} is not one of the objectives {', '.join(self.objectives)}")
                _split_settings(f"{key}.{name}", values)
        for dataset, entry in self.dataset_entries.items():
            spec = entry.config
            steps = spec["train"]["steps"]
            for s in spec.get("checkpoint_steps", []):
                if not 1 <= s <= steps:
                    raise ConfigError(f"datasets.{dataset}.checkpoint_steps: {s} is outside the run (1..{steps})")
            if spec.get("checkpoint_every", 1) > steps:
                raise ConfigError(f"datasets.{dataset}.checkpoint_every: {spec['checkpoint_every']} is beyond "
                                  f"the run length ({steps} steps)")
            split, n_real = self.reference_split(), self.n_real(dataset)
            size = entry.spec.split_size(split) if entry.kind == "images" else None
            if size is not None and n_real > size:
                key = f"datasets.{dataset}.n_real" if "n_real" in spec else "scoring.n_real"
                raise ConfigError(f"{key}: {n_real} real images asked for the reference, but the {split} split of "
                                  f"{dataset} holds {size}")
            for name in self.extractors(dataset):
                if name not in EXTRACTORS:
                    raise ConfigError(f"datasets.{dataset}.extractors: unknown extractor {name!r}; valid: "
                                      f"{', '.join(EXTRACTORS)}")
                if EXTRACTORS[name].kind != entry.kind:
                    raise ConfigError(f"datasets.{dataset}.extractors: extractor {name!r} reads {EXTRACTORS[name].kind}"
                                      f", the dataset holds {entry.kind}")
            for objective in self.objectives_of(dataset):
                try:
                    # build=False: each model's declared checks, without torch where the registrations allow
                    resolve(self.train_config(dataset, objective, self.seeds[0]), build=False)
                except (ConfigError, ValueError) as err:
                    raise ConfigError(f"datasets.{dataset} with objective {objective!r}: {err}") from None

        for name, cls in EXTRACTORS.items():
            if cls.mode_setting and self.scoring[cls.mode_setting] not in cls.modes:
                raise ConfigError(f"scoring.{cls.mode_setting}: {self.scoring[cls.mode_setting]!r} is not a mode of "
                                  f"the {name} extractor; valid: {', '.join(cls.modes)}")

    def _warn_device(self) -> None:
        """`device: cuda` where no GPU is seen: a warning, not an error (a cluster's submit host may have none)."""
        import logging

        from .gpu import count_gpus

        if self.config.get("device") == "cuda" and count_gpus() == 0:
            logging.getLogger(__name__).warning(
                "device: cuda, but this machine shows no GPU (nvidia-smi): jobs that run here will fail; fine if "
                "they run on cluster nodes with GPUs")

    def _figure1a_settings(self) -> dict[str, Any]:
        """The WGAN-GP Figure 1(a) stage's settings: the config's `figure1a` block (config/schema.yaml's defaults
        filled in by the DAG's validation), its datasets checked against the registry."""
        settings = dict(self.config.get("figure1a") or {})
        for name in settings.get("datasets", ()):
            _check_toy_dataset("figure1a.datasets", name)
        if len(set(settings.get("datasets", ()))) != len(settings.get("datasets", ())):
            raise ConfigError(f"figure1a.datasets: {settings['datasets']} names a dataset twice")
        return settings

    def _paper_stage_settings(self, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The settings of the papers' small stages (workflow/rules/papers.smk, gan.wgan_examples), by stage:
        the config's blocks with config/schema.yaml's defaults; Figure 1(b)'s dataset checked against the
        registry."""
        stages = {stage: dict(settings[stage]) for stage in PAPER_STAGES}
        _check_toy_dataset("wgangp_figure1b.dataset", stages["wgangp_figure1b"]["dataset"])
        return stages

    def _all_objective_settings(self):
        yield "objective_settings", self.config.get("objective_settings", {})
        for dataset, spec in self.config["datasets"].items():
            yield f"datasets.{dataset}.objective_settings", spec.get("objective_settings", {})

    # --- the grid ----------------------------------------------------------------------------------------------

    def runs(self, dataset: str | None = None) -> list[tuple[str, str, int]]:
        return [(d, o, s) for d in self.datasets if dataset in (None, d) for o in self.objectives_of(d)
                for s in self.seeds]

    def kind(self, dataset: str) -> str:
        return self.dataset_entries[dataset].kind

    @property
    def toy_datasets(self) -> list[str]:
        return [d for d in self.datasets if self.kind(d) == "points"]

    def checkpoint_steps(self, dataset: str) -> list[int]:
        spec = self.dataset_entries[dataset].config
        if spec.get("checkpoint_steps"):
            return sorted(set(spec["checkpoint_steps"]))
        steps = spec["train"]["steps"]
        every = spec.get("checkpoint_every", steps)
        return sorted(set(range(every, steps + 1, every)) | {steps})

    def train_config(self, dataset: str, objective: str, seed: int) -> TrainConfig:
        entry, obj = self.dataset_entries[dataset], self.objective_entries[objective]
        values: dict[str, Any] = dict(entry.config["train"])
        hyper, model = dict(obj.settings), dict(obj.model)
        # global settings, then the dataset's own, each keyed by objective entry
        for settings in (self.config.get("objective_settings", {}), entry.config.get("objective_settings", {})):
            more_hyper, more_model = _split_settings("objective_settings", settings.get(objective, {}))
            hyper.update(more_hyper)
            model.update(more_model)
        values.update(model)
        values.update(dataset=entry.spec.name, objective=obj.objective, seed=seed, dataset_entry=dataset,
                      objective_entry=objective, dataset_options=entry.spec.options(), hyperparameters=hyper,
                      checkpoint_steps=self.checkpoint_steps(dataset), data_root=self.layout.downloads,
                      prepared_data=self.layout.prepared(dataset), device=self.device)
        return TrainConfig(**values)

    def train_settings(self, dataset: str, objective: str, seed: int) -> dict[str, Any]:
        return self.train_config(dataset, objective, seed).to_dict()

    # --- scoring -----------------------------------------------------------------------------------------------

    def extractors(self, dataset: str) -> list[str]:
        entry = self.dataset_entries[dataset]
        if entry.kind == "points":
            return [entry.spec.default_extractor]
        return list(entry.config["extractors"])

    def extractor(self, name: str) -> type[Extractor]:
        """The registered feature extractor: its modes, weights, GPU need (the DAG's rules read them)."""
        return EXTRACTORS[name]

    def extractor_weights(self, dataset: str, extractor: str) -> str | None:
        """The weights file `extractor` reads for `dataset` (downloaded once, or trained by its rule), or None."""
        weights = EXTRACTORS[extractor].weights
        return None if weights is None else weights.path(self.layout, dataset, self.scoring)

    def downloaded_weights(self) -> dict[str, str]:
        """{extractor: weights path} of every registered extractor whose weights are downloaded (one fetch rule
        each)."""
        return {name: cls.weights.path(self.layout, "", self.scoring) for name, cls in EXTRACTORS.items()
                if isinstance(cls.weights, Download)}

    def samples(self, dataset: str) -> int:
        return int(self.dataset_entries[dataset].config["samples"])

    def n_real(self, dataset: str) -> int:
        return int(self.dataset_entries[dataset].config.get("n_real", self.scoring["n_real"]))

    def reference_split(self) -> str:
        return self.scoring["reference_split"]

    def reference_path(self, dataset: str, extractor: str) -> str:
        """Every parameter of a reference statistic is in its file name (gan.layout)."""
        return self.layout.reference(dataset, extractor, EXTRACTORS[extractor].protocol_mode(self.scoring),
                                     self.reference_split(), self.n_real(dataset), self.eval_seed)

    def reference_paths(self, dataset: str) -> dict[str, str]:
        return {e: self.reference_path(dataset, e) for e in self.extractors(dataset)}

    def config_hash(self) -> str:
        return config_hash(self.config)
