"""The benchmark grid as the Snakemake workflow sees it: dataset x objective x seed, with resolved settings.

Snakemake validates the config's structure against config/schema.yaml; this module checks what the schema
cannot (names against the registries, every run's settings through gan.config.resolve) and names the bad key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ConfigError, TrainConfig, resolve
from .datasets import DATASETS, dataset_shape
from .objectives import OBJECTIVES
from .provenance import config_hash

# the protocol variant of each feature space (clean-fid's mode for Inception), as written in reference names
EXTRACTOR_MODES = {
    "inception": lambda bench: bench.scoring.get("fid_mode", "clean"),
    "classifier": lambda bench: "native",
    "points": lambda bench: "exact",
}


class BenchmarkConfig:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.results_dir = config.get("results_dir", "results")
        self.resources_dir = config.get("resources_dir", "resources")
        self.seeds = list(config["seeds"])
        self.objectives = list(config["objectives"])
        self.datasets = list(config["datasets"])
        self.scoring = config.get("scoring", {})
        self._validate()

    # --- validation ------------------------------------------------------------------------------------------

    def _validate(self) -> None:
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ConfigError(f"seeds: {seed!r} is not an integer")
        for name in self.objectives:
            if name not in OBJECTIVES:
                raise ConfigError(f"objectives: unknown objective {name!r}; valid: {', '.join(sorted(OBJECTIVES))}")
        for key, settings in self._all_objective_settings():
            for name in settings:
                if name not in OBJECTIVES:
                    raise ConfigError(f"{key}: unknown objective {name!r}; valid: {', '.join(sorted(OBJECTIVES))}")
        for dataset in self.datasets:
            if dataset not in DATASETS:
                raise ConfigError(f"datasets: unknown dataset {dataset!r}; valid: {', '.join(sorted(DATASETS))}")
            spec = self.config["datasets"][dataset]
            steps = spec["train"]["steps"]
            for s in spec.get("checkpoint_steps", []):
                if not 1 <= s <= steps:
                    raise ConfigError(f"datasets.{dataset}.checkpoint_steps: {s} is outside the run (1..{steps})")
            if spec.get("checkpoint_every", 1) > steps:
                raise ConfigError(f"datasets.{dataset}.checkpoint_every: {spec['checkpoint_every']} is beyond "
                                  f"the run length ({steps} steps)")
            for objective in self.objectives:
                try:
                    resolve(self.train_config(dataset, objective, self.seeds[0]))
                except (ConfigError, ValueError) as err:
                    raise ConfigError(f"datasets.{dataset} with objective {objective!r}: {err}") from None

    def _all_objective_settings(self):
        yield "objective_settings", self.config.get("objective_settings", {})
        for dataset, spec in self.config["datasets"].items():
            yield f"datasets.{dataset}.objective_settings", spec.get("objective_settings", {})

    # --- the grid ----------------------------------------------------------------------------------------------

    def runs(self, dataset: str | None = None) -> list[tuple[str, str, int]]:
        return [(d, o, s) for d in self.datasets if dataset in (None, d) for o in self.objectives for s in self.seeds]

    def is_images(self, dataset: str) -> bool:
        spec = self.config["datasets"][dataset]
        return len(dataset_shape(dataset, **spec["train"].get("dataset_options", {}))) == 3

    def checkpoint_steps(self, dataset: str) -> list[int]:
        spec = self.config["datasets"][dataset]
        if spec.get("checkpoint_steps"):
            return sorted(set(spec["checkpoint_steps"]))
        steps = spec["train"]["steps"]
        every = spec.get("checkpoint_every", steps)
        return sorted(set(range(every, steps + 1, every)) | {steps})

    def train_config(self, dataset: str, objective: str, seed: int) -> TrainConfig:
        spec = self.config["datasets"][dataset]
        values: dict[str, Any] = dict(spec["train"])
        values.update(self.config.get("objective_settings", {}).get(objective, {}))
        values.update(spec.get("objective_settings", {}).get(objective, {}))
        values.update(dataset=dataset, objective=objective, seed=seed, checkpoint_steps=self.checkpoint_steps(dataset),
                      data_root=f"{self.resources_dir}/data", device=self.config.get("device", "auto"))
        return TrainConfig(**values)

    def train_settings(self, dataset: str, objective: str, seed: int) -> dict[str, Any]:
        return self.train_config(dataset, objective, seed).to_dict()

    # --- scoring -----------------------------------------------------------------------------------------------

    def extractors(self, dataset: str) -> list[str]:
        if not self.is_images(dataset):
            return ["points"]
        return list(self.config["datasets"][dataset].get("extractors", ["inception"]))

    def samples(self, dataset: str) -> int:
        return int(self.config["datasets"][dataset].get("samples", 10000))

    def n_real(self, dataset: str) -> int:
        return int(self.config["datasets"][dataset].get("n_real", self.scoring.get("n_real", 10000)))

    def reference_path(self, dataset: str, extractor: str) -> str:
        """Every parameter of a reference statistic is in its file name."""
        split = self.scoring.get("reference_split", "train")
        return (f"{self.results_dir}/reference/{dataset}/"
                f"{extractor}_{EXTRACTOR_MODES[extractor](self)}_{split}_{self.n_real(dataset)}.npz")

    def reference_paths(self, dataset: str) -> dict[str, str]:
        return {e: self.reference_path(dataset, e) for e in self.extractors(dataset)}

    def config_hash(self) -> str:
        return config_hash(self.config)


__all__ = ["BenchmarkConfig", "score_checkpoint"]


def score_checkpoint(samples: str | Path, references: dict[str, str], out_json: str | Path, *,
                     weights: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """One scores JSON for a checkpoint from several feature spaces (e.g. Inception FID and the classifier's).

    Metric names differ between extractors, so they merge without clashes; the protocol of the first extractor
    is the file's headline protocol and every extractor's own protocol is kept under "protocols".
    """
    from . import io
    from .metrics import score_samples

    merged: dict[str, Any] | None = None
    protocols = {}
    for extractor, reference in references.items():
        result = score_samples(samples, reference, None, weights_path=(weights or {}).get(extractor), **kwargs)
        protocols[extractor] = result["protocol"]
        if merged is None:
            merged = dict(result, metrics=dict(result["metrics"]))
        else:
            merged["metrics"].update(result["metrics"])
    assert merged is not None, "no reference to score against"
    merged["protocols"] = protocols
    io.write_json(out_json, merged)
    return merged
