"""Named grid entries: a dataset entry is a registered dataset with options, an objective entry may be a named
variant with its own hyper-parameters and model settings; bad entries fail at DAG build, naming the key."""
from __future__ import annotations

import pytest

from gan.config import ConfigError, resolve
from gan.grid import BenchmarkGrid

from workflow_helpers import complete_config, copy_workflow, smoke_config, snakemake, write_config


def _config(**changes):
    config = {
        "experiment": "grid-test", "seeds": [0], "scoring": {"n_real": 1000},  # digits' train split: 1437
        "objectives": ["wgan", {"name": "wgan-bn", "objective": "wgan", "model": {"critic_norm": "batch"}},
                       {"name": "wgan-gp-toy-lambda", "objective": "wgan-gp", "settings": {"gp_lambda": 0.1}}],
        "datasets": {
            "digits8": {"dataset": "digits", "train": {"model": "dcgan", "width": 8, "steps": 4}},
            "digits16": {"dataset": "digits", "options": {"image_size": 16},
                         "train": {"model": "dcgan", "width": 8, "steps": 4}},
        },
    }
    config.update(changes)
    return config


def test_two_entries_of_one_dataset_and_objective_variants():
    grid = BenchmarkGrid(_config())
    assert grid.datasets == ["digits8", "digits16"] and grid.objectives == ["wgan", "wgan-bn", "wgan-gp-toy-lambda"]
    small, large = (resolve(grid.train_config(d, "wgan", 0)) for d in grid.datasets)
    assert small.model_config().data_shape == (1, 8, 8) and large.model_config().data_shape == (1, 16, 16)
    bn = resolve(grid.train_config("digits16", "wgan-bn", 0))
    assert bn.critic_norm == "batch" and bn.objective == "wgan" and bn.objective_name == "wgan-bn"
    assert bn.hyperparameters["clip_value"] == 0.01 and "betas" not in bn.hyperparameters  # no placeholder betas
    gp = resolve(grid.train_config("digits8", "wgan-gp-toy-lambda", 0))
    assert gp.hyperparameters["gp_lambda"] == 0.1 and gp.dataset_name == "digits8"
    # per-dataset settings key on the entry's name and may set model settings of that objective
    grid = BenchmarkGrid(_config(objective_settings={"wgan": {"lr": 1e-4, "model": {"width": 4}}}))
    cfg = resolve(grid.train_config("digits8", "wgan", 0))
    assert cfg.hyperparameters["lr"] == 1e-4 and cfg.width == 4


@pytest.mark.parametrize("changes, match", [
    # refused from the settings, without building the model: also at 8x8, where dcgan's critic has no layer to
    # normalise and asking for BatchNorm used to pass unnoticed
    ({"objectives": [{"name": "gp-bn", "objective": "wgan-gp", "model": {"critic_norm": "batch"}}]},
     "datasets.digits8 with objective 'gp-bn'.*BatchNorm"),
    ({"objectives": [{"name": "x", "objective": "no-such-objective"}]}, r"objectives\[0\].*unknown objective"),
    ({"objectives": ["wgan", {"name": "wgan", "objective": "wgan-gp"}]}, "the name 'wgan' is used twice"),
    ({"objective_settings": {"wgan-gp": {"gp_lambda": 1}}}, "'wgan-gp' is not one of the objectives"),
    ({"objective_settings": {"wgan": {"gp_lambda": 1}}}, "no hyper-parameter.*gp_lambda"),
    ({"objective_settings": {"wgan": {"model": {"depth": 3}}}}, "unknown model setting.*depth"),
    ({"datasets": {"d": {"dataset": "digits", "options": {"colour": 1}, "train": {"steps": 4}}}},
     "datasets.d: dataset 'digits' has no option.*colour"),
])
def test_bad_entries_name_the_key(changes, match):
    with pytest.raises(ConfigError, match=match):
        BenchmarkGrid(_config(**changes))


def test_named_entries_through_the_dag(tmp_path):
    """`snakemake -n` plans one run folder per entry name, with the entry's settings."""
    work = copy_workflow(tmp_path / "work")
    config = smoke_config(seeds=[0], objectives=_config()["objectives"], objective_settings={},
                          datasets={name: {**spec, "checkpoint_steps": [4], "samples": 10, "extractors": ["classifier"]}
                                    for name, spec in _config()["datasets"].items()})
    path = write_config(work, "grid.yaml", config)
    proc = snakemake(work, "-n", *complete_config(path.relative_to(work)))
    out = proc.stdout + proc.stderr
    for entry in ("digits8/wgan-bn/seed0", "digits16/wgan-gp-toy-lambda/seed0"):
        assert f"results/gan-bench-smoke/runs/{entry}/summary.json" in out


def test_the_hand_written_schema_agrees_with_the_registries():
    """config/schema.yaml stays hand-written (descriptions for readers); its model and train keys are the ones
    TrainConfig has, and objective hyper-parameters are left to the registry (any objective's own fields)."""
    import dataclasses
    from pathlib import Path

    import yaml

    from gan.config import MODEL_KEYS, TrainConfig

    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "schema.yaml").read_text())
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(schema["definitions"]["model"]["properties"]) == set(MODEL_KEYS)
    assert set(schema["definitions"]["train"]["properties"]) <= fields
    settings = schema["definitions"]["objective_settings"]["additionalProperties"]
    assert settings.get("additionalProperties", True) is True and set(settings["properties"]) == {"model"}
