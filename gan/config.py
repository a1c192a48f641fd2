"""One training run's settings: a flat dataclass, validated before any data is loaded or any GPU time is spent."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .datasets import DATASETS, dataset_spec
from .models import CRITIC_NORMS, MODELS, ModelConfig, build_models, check_model
from .objectives import OBJECTIVES, build_objective


class ConfigError(ValueError):
    """A bad setting; the message names the key."""


@dataclass
class TrainConfig:
    dataset: str  # a registered dataset (gan.datasets)
    objective: str  # a registered objective (gan.objectives)
    seed: int = 0  # the run seed: initial weights, noise, batches
    # names of the benchmark's grid entries (run identity in files, tables, MLflow); None: the registered names
    dataset_entry: str | None = None
    objective_entry: str | None = None
    model: str | None = None  # None: the dataset's default ('toy' for 2-D points, 'dcgan' for images)
    steps: int = 1000  # generator iterations
    batch_size: int = 64
    checkpoint_steps: list[int] = field(default_factory=list)  # the last step is always added
    log_every: int = 10  # generator iterations between metrics.csv rows
    resume_every: int = 0  # generator iterations between rolling last.pt checkpoints (0: off)
    data_root: str = "resources/data"
    prepared_data: str | None = None  # the DAG's prepared tensor file; None: decode the raw files
    dataset_options: dict[str, Any] = field(default_factory=dict)  # the dataset's own options (its fields)
    # model
    z_dim: int | None = None
    width: int | None = None
    critic_norm: str = "none"
    init: str = field(default="default", metadata={"help": "weight init (gan.models.INITS); default: the model's own"})
    # objective hyper-parameters (the objective's own fields); unset keys keep its paper defaults
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    # device
    device: str = "auto"
    deterministic: bool = False
    tf32: bool = False
    bf16: bool = False
    compile: bool = False

    @property
    def dataset_name(self) -> str:
        """The run's dataset as the benchmark names it."""
        return self.dataset_entry or self.dataset

    @property
    def objective_name(self) -> str:
        return self.objective_entry or self.objective

    def model_config(self) -> ModelConfig:
        spec = dataset_spec(self.dataset, **self.dataset_options)
        return ModelConfig(name=self.model or spec.default_model, data_shape=spec.shape, z_dim=self.z_dim,
                           width=self.width, critic_norm=self.critic_norm, init=self.init)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MODEL_KEYS = ("model", "z_dim", "width", "critic_norm", "init")
# settings that may change between a checkpoint and its resumption without changing the result
RESUMABLE_KEYS = ("steps", "checkpoint_steps", "resume_every", "data_root", "prepared_data", "device", "compile")


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    for required in ("dataset", "objective"):
        if required not in values:
            raise ConfigError(f"missing training setting {required!r}")
    return TrainConfig(**values)


def _positive_int(cfg: TrainConfig, key: str, allow_zero: bool = False) -> None:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise ConfigError(f"{key} must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")


def resolve(cfg: TrainConfig, build: bool = True) -> TrainConfig:
    """Validate every setting and fill in the defaults (objective hyper-parameters, model, checkpoint steps).

    The model is checked against its registration and the objective (BatchNorm in a WGAN-GP critic, a data shape
    the model cannot take) before any data is loaded. Without torch where the registrations declare their checks
    (the DAG build, `build=False`); the models are built on the meta device where one does not, and with `build`,
    which also fills in the model's z_dim.
    """
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"dataset: unknown dataset {cfg.dataset!r}; valid names: {', '.join(sorted(DATASETS))}")
    try:
        spec = dataset_spec(cfg.dataset, **cfg.dataset_options)
    except ValueError as err:
        raise ConfigError(f"dataset_options: {err}") from None
    if cfg.objective not in OBJECTIVES:
        raise ConfigError(f"objective: unknown objective {cfg.objective!r}; valid names: "
                          f"{', '.join(sorted(OBJECTIVES))}")
    model = cfg.model or spec.default_model
    if model not in MODELS:
        raise ConfigError(f"model: unknown model {model!r}; valid names: {', '.join(sorted(MODELS))}")
    if cfg.critic_norm not in CRITIC_NORMS:
        raise ConfigError(f"critic_norm: unknown value {cfg.critic_norm!r}; valid: {', '.join(CRITIC_NORMS)}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {cfg.seed!r}")
    for key in ("steps", "batch_size", "log_every"):
        _positive_int(cfg, key)
    _positive_int(cfg, "resume_every", allow_zero=True)
    given = cfg.checkpoint_steps
    steps = ([given] if isinstance(given, int) else list(given or [])) or [cfg.steps]
    for s in steps:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= cfg.steps:
            raise ConfigError(f"checkpoint_steps: {s!r} is outside the run (1..steps={cfg.steps})")
    if cfg.device not in ("auto", "cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ConfigError(f"device: {cfg.device!r}; valid: auto, cpu, cuda, cuda:N")
    try:
        objective = build_objective(cfg.objective, **dict(cfg.hyperparameters or {}))
    except ValueError as err:
        raise ConfigError(f"objective {cfg.objective!r}: {err}") from None
    if cfg.compile and objective.double_backward:
        raise ConfigError(f"compile: objective {cfg.objective!r} differentiates through the critic's gradient "
                          "(double backward), which torch.compile cannot trace; set compile: false")
    # the last step is always checkpointed: a run's final state is never only in memory
    resolved = dataclasses.replace(cfg, model=model, checkpoint_steps=sorted(set(steps) | {cfg.steps}),
                                   dataset_options=spec.options() if cfg.dataset_options else {},
                                   hyperparameters=objective.hyperparameters())
    model_config = resolved.model_config()
    try:
        declared = check_model(model_config)
        objective.check_model(model_config)
        if build or not declared or objective.needs_built_critic():
            import torch

            # on the meta device: shapes and layers only, no memory and no initialisation
            with torch.device("meta"):
                generator, critic = build_models(model_config)
            objective.check_critic(critic)
            if build:
                resolved.z_dim = generator.z_dim
    except ValueError as err:
        raise ConfigError(f"model {model!r}: {err}") from None
    return resolved
