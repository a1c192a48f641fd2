"""What can be checked at DAG build is checked there (gan/grid.py, config/schema.yaml, the dataset registry): a
sample count the scorer cannot use, a reference larger than its split, `device: cuda` without a GPU (a warning);
a bad file in a user's image folder is one line naming it."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gan.config import ConfigError
from gan.datasets import dataset_spec
from gan.grid import BenchmarkGrid

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


def _config(**changes):
    config = {"experiment": "checks-test", "seeds": [0], "objectives": ["wgan"],
              "datasets": {"digits": {"train": {"model": "dcgan", "width": 8, "steps": 4}}},
              "scoring": {"reference_split": "test", "n_real": 360}}
    config.update(changes)
    return config


def test_one_sample_is_refused_by_the_schema():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = _config()
    validate(config, str(SCHEMA))
    config["datasets"]["digits"]["samples"] = 1
    with pytest.raises(WorkflowError, match="samples"):
        validate(config, str(SCHEMA))


@pytest.mark.parametrize("changes, match", [
    ({"scoring": {"reference_split": "test", "n_real": 361}},
     "^scoring.n_real: 361 real images asked for the reference, but the test split of digits holds 360$"),
    ({"scoring": {"reference_split": "train", "n_real": 10000}}, "^scoring.n_real: 10000 .* train split .* 1437$"),
])
def test_n_real_beyond_the_split_is_refused_at_dag_build(changes, match):
    with pytest.raises(ConfigError, match=match):
        BenchmarkGrid(_config(**changes))


def test_n_real_of_a_dataset_entry_names_its_key():
    config = _config()
    config["datasets"]["digits"]["n_real"] = 5000
    with pytest.raises(ConfigError, match=r"^datasets\.digits\.n_real: 5000 "):
        BenchmarkGrid(config)


@pytest.mark.parametrize("name, options", [("digits", {}), ("stacked_digits", {}), ("stacked_digits", {"stacks": 50})])
def test_declared_split_sizes_are_the_loaded_ones(name, options, tmp_path):
    spec = dataset_spec(name, **options)
    for split in ("train", "test"):
        assert spec.split_size(split) == len(spec.load(tmp_path, split).images)


def test_device_cuda_without_a_gpu_is_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("GAN_BENCH_GPU_COUNT", "0")
    with caplog.at_level(logging.WARNING):
        BenchmarkGrid(_config(device="cuda"))
    assert "device: cuda, but this machine shows no GPU" in caplog.text
    caplog.clear()
    monkeypatch.setenv("GAN_BENCH_GPU_COUNT", "1")
    BenchmarkGrid(_config(device="cuda"))
    assert "no GPU" not in caplog.text


def test_corrupt_image_in_a_folder_dataset_is_one_line(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"ok{i}.png")
    spec = dataset_spec("folder", path=str(folder), image_size=8)
    assert spec.split_size("train") == 3 and len(spec.load(tmp_path, "train").images) == 3
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match=rf"^dataset 'folder': {folder / 'broken.png'} is not a readable image "
                                         r"\(UnidentifiedImageError: .*\); remove or replace it$"):
        spec.load(tmp_path, "train")


def test_folder_with_fewer_images_than_n_real_is_refused(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{i}.png")
    config = _config(datasets={"mine": {"dataset": "folder", "options": {"path": str(folder), "image_size": 8},
                                        "train": {"model": "dcgan", "width": 8, "steps": 4}, "n_real": 4}})
    with pytest.raises(ConfigError, match=r"^datasets\.mine\.n_real: 4 .* test split of mine holds 3$"):
        BenchmarkGrid(config)


def test_inception_download_with_another_sha256_is_never_placed(tmp_path, monkeypatch):
    import io

    from gan.metrics import inception as incmod
    from gan.metrics import weights as weightsmod

    pinned = incmod.InceptionExtractor.weights.sha256
    assert pinned == "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"
    monkeypatch.setattr(weightsmod.urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"a swapped file"))
    dest = tmp_path / "resources" / incmod.INCEPTION_FILENAME
    with pytest.raises(RuntimeError, match=rf"sha256 [0-9a-f]{{64}} is not the pinned {pinned}: nothing placed at "):
        weightsmod.fetch_weights("inception", dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []