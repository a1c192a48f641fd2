"""gan-bench: GAN, WGAN (weight clipping) and WGAN-GP, trained and compared exactly as the papers define them.

Submodules are imported on first use, so light ones (gan.atomic, gan.layout, gan.provenance, gan.tracking, and
the registries with the grid the DAG reads: gan.datasets, gan.objectives, gan.models, gan.metrics, gan.grid) do
not pull in torch.
"""
_EXPORTS = {
    "gan.config": ("ConfigError", "TrainConfig"),
    "gan.objectives": ("OBJECTIVES", "build_objective"),
    "gan.models": ("MODELS", "build_models"),
    "gan.datasets": ("DATASETS", "get_dataset"),
}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    import importlib

    for module, names in _EXPORTS.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'gan' has no attribute {name!r}")


# registrations from files outside the package (GAN_BENCH_PLUGINS, set by the DAG for its jobs)
from .plugins import load_from_env as _load_plugins  # noqa: E402

_load_plugins()
