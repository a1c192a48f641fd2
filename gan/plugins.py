"""Registrations from files outside the package: a new objective, dataset, model, extractor or metric in one file.

A plugin is a Python file that imports the registries and decorates its classes/functions
(`@register_objective`, `@register_dataset`, `@register_model`, `@register_extractor`, `@register_metric`). The benchmark config lists
them under `plugins:`; the DAG loads them when it is built and passes them to every job through the environment
variable GAN_BENCH_PLUGINS (colon-separated paths), which `gan` reads on import; `python -m gan --plugin FILE`
does the same for one command.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ENV = "GAN_BENCH_PLUGINS"
_loaded: dict[str, object] = {}


def load_plugins(paths) -> list[str]:
    """Import each file once (by resolved path); a missing file is one clear error naming it."""
    done = []
    for entry in paths or ():
        path = Path(entry).expanduser().resolve()
        key = str(path)
        if key in _loaded:
            done.append(key)
            continue
        if not path.is_file():
            raise FileNotFoundError(f"plugin {entry}: no such file")
        name = f"gan_bench_plugin_{len(_loaded)}_{path.stem.replace('-', '_')}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        _loaded[key] = module  # before exec: a plugin importing gan does not load itself twice
        try:
            spec.loader.exec_module(module)
        except Exception:
            del _loaded[key], sys.modules[name]
            raise
        done.append(key)
    return done


def loaded_files() -> list[Path]:
    """The plugin files imported in this process (resolved paths, in load order)."""
    return [Path(key) for key in _loaded]


def export(paths) -> str:
    """Absolute paths joined for GAN_BENCH_PLUGINS (jobs may run in another working directory)."""
    value = os.pathsep.join(str(Path(p).expanduser().resolve()) for p in paths or ())
    if value:
        os.environ[ENV] = value
    return value


def load_from_env() -> None:
    value = os.environ.get(ENV, "")
    if value:
        load_plugins(p for p in value.split(os.pathsep) if p)
