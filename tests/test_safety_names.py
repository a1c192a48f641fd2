"""Entry and experiment names cannot put files outside results/ (gan/grid.py refuses them at DAG build, naming the
name; gan/layout.py refuses any path that would leave its root, which also covers the CLI)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gan.config import ConfigError
from gan.grid import BenchmarkGrid
from gan.layout import Layout


def _config(**changes):
    config = {"experiment": "names-test", "seeds": [0], "objectives": ["wgan"],
              "datasets": {"8gaussians": {"train": {"steps": 4}}}}
    config.update(changes)
    return config


@pytest.mark.parametrize("changes, where, name", [
    ({"objectives": [{"name": "../../../../outside_obj", "objective": "wgan"}]}, r"objectives\[0\]",
     "../../../../outside_obj"),
    ({"objectives": [{"name": "nested/obj", "objective": "wgan"}]}, r"objectives\[0\]", "nested/obj"),
    ({"objectives": [{"name": "it's", "objective": "wgan"}]}, r"objectives\[0\]", "it's"),
    ({"objectives": ["wgan", {"name": "..", "objective": "wgan"}]}, r"objectives\[1\]", ".."),
    ({"datasets": {"../evil": {"dataset": "8gaussians", "train": {"steps": 4}}}}, r"datasets\.\.\./evil", "../evil"),
    ({"datasets": {"a/b": {"dataset": "8gaussians", "train": {"steps": 4}}}}, r"datasets\.a/b", "a/b"),
    ({"experiment": "../exp"}, "experiment", "../exp"),
])
def test_unsafe_names_are_refused_at_dag_build(changes, where, name):
    with pytest.raises(ConfigError, match=rf"^{where}.*the name {name!r} is not allowed"):
        BenchmarkGrid(_config(**changes))


def test_safe_names_pass():
    grid = BenchmarkGrid(_config(objectives=[{"name": "wgan_v1.2-x", "objective": "wgan"}],
                                 datasets={"8g-2": {"dataset": "8gaussians", "train": {"steps": 4}}}))
    assert grid.layout.run_dir("8g-2", "wgan_v1.2-x", 0) == "results/names-test/runs/8g-2/wgan_v1.2-x/seed0"


@pytest.mark.parametrize("call", [
    lambda lay: lay.run_dir("8gaussians", "../../../../outside", 0),
    lambda lay: lay.run_dir("..", "wgan", 0),
    lambda lay: lay.run_dir("", "wgan", 0),
    lambda lay: lay.prepared("../../x"),
    lambda lay: lay.reference("/abs", "points", "exact", "train", 10, 1),
    lambda lay: lay.log("train", "..", "wgan"),
    lambda lay: lay.run("d", "..", 0),
])
def test_layout_refuses_a_path_leaving_its_root(call):
    with pytest.raises(ValueError, match=r"^path '.*' would leave its folder 'results'"):
        call(Layout())


def test_layout_keeps_wildcard_patterns_and_a_trailing_slash_root():
    assert Layout().run_dir("{dataset}", "{objective}", "{seed}") == "results/runs/{dataset}/{objective}/seed{seed}"
    assert Layout("out/").prepared("digits") == "out//data/digits.pt"


def test_cli_refuses_an_escaping_entry_name(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gan", "train", "--dataset", "8gaussians", "--objective", "wgan", "--steps", "2",
                          "--objective-entry", "../../escaped"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: path 'results/one-off/8gaussians/../../escaped/seed0-")
    assert "would leave its folder 'results/one-off'" in out.stderr
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "results").exists()
