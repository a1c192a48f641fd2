"""config/schema.yaml's defaults: the one owner of every default of a benchmark config.

Snakemake's `validate` fills them into the config before the DAG is built; `with_defaults` fills them the same
way (JSON schema `properties` defaults, also under `additionalProperties`, `items` and local `$ref`s) where a
config is read without Snakemake (in-process grids, the CLI's defaults). Imports nothing but yaml.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(SCHEMA.read_text())


def _resolve(node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(target)


def _fill(instance: Any, node: dict) -> None:
    node = _resolve(node)
    if isinstance(instance, dict):
        properties = node.get("properties", {})
        for key, sub in properties.items():
            if "default" in sub:
                instance.setdefault(key, copy.deepcopy(sub["default"]))
        extra = node.get("additionalProperties")
        for key, value in instance.items():
            if key in properties:
                _fill(value, properties[key])
            elif isinstance(extra, dict):
                _fill(value, extra)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        for value in instance:
            _fill(value, node["items"])


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` with every default of the schema filled in, as Snakemake's `validate` does."""
    filled = copy.deepcopy(config)
    _fill(filled, schema())
    return filled


def default(*keys: str) -> Any:
    """The schema's default at a path of keys; "*" steps into `additionalProperties` (a dataset entry)."""
    node = schema()
    for key in keys:
        node = _resolve(node)
        node = node["additionalProperties"] if key == "*" else node["properties"][key]
    return _resolve(node)["default"]


def validate(config: dict[str, Any]) -> None:
    """Validate `config` against config/schema.yaml and fill its defaults in place: Snakemake's own `validate`,
    the check the DAG runs first (workflow/rules/common.smk), so a test or a script can run it in-process."""
    from snakemake.utils import validate as snakemake_validate

    snakemake_validate(config, schema=str(SCHEMA))
