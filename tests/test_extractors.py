"""Feature extractors and metrics as registered units: a metric asks for a named feature and runs in every space
that gives it, under keys that cannot collide; an extractor from a plugin file is accepted by the schema and the
grid and scored by the package's FD; Inception's unbiased logits are its output layer on the pool features; the
code's defaults are the schema's."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gan import plugins, schema
from gan.config import ConfigError
from gan.grid import BenchmarkGrid
from gan.metrics import EXTRACTORS, METRICS, Output, compute_reference, load_reference, register_metric
from gan.metrics import inception as incmod
from gan.metrics.distances import frechet_from_features
from gan.metrics.registry import metric_outputs

sys.path.insert(0, str(Path(__file__).parent))
from inception_standin import build_standin  # noqa: E402
from workflow_helpers import ROOT, smoke_config  # noqa: E402

PIXELS = Path(__file__).parent / "extension" / "pixels.py"
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit (the Inception TorchScript)


@pytest.fixture
def registries():
    """Registrations made by a test are undone after it (the registries are process-wide)."""
    extractors, metrics, loaded = dict(EXTRACTORS), dict(METRICS), dict(plugins._loaded)
    yield
    for registry, saved in ((EXTRACTORS, extractors), (METRICS, metrics), (plugins._loaded, loaded)):
        registry.clear()
        registry.update(saved)


def test_two_metrics_writing_one_key_are_refused(registries):
    with pytest.raises(ValueError, match="'w1' would be written by metric 'w1'.*and by metric 'w1_again'"):
        @register_metric("w1_again", feature="points", outputs={"w1": Output("W1 again", False)})
        def again(ctx):
            return {"w1": 0.0}
    assert "w1_again" not in METRICS
    # a metric whose keys are not per space, in two spaces, would write its key twice
    with pytest.raises(ValueError, match="'entropy_of_logits' would be written .* 'inception' .* 'classifier'"):
        @register_metric("entropy_of_logits", feature="logits", outputs={"entropy_of_logits": Output("H", False)})
        def entropy(ctx):
            return {"entropy_of_logits": 0.0}
    assert "entropy_of_logits" not in METRICS


def test_an_extractor_that_would_make_two_writers_of_a_key_is_refused(registries):
    from gan.metrics import Extractor, Feature, register_extractor

    with pytest.raises(ValueError, match="extractor 'more_points'.*'w1'.*space 'points'.*space 'more_points'"):
        @register_extractor("more_points")
        class MorePoints(Extractor):
            kind = "points"
            provides = {"points": Feature(2, "the points again")}
            modes = ("exact",)
    assert "more_points" not in EXTRACTORS


def test_fd_and_kid_are_one_metric_each_with_the_names_users_know():
    keys = metric_outputs()
    assert {"fid", "kid", "fd_classifier", "kid_classifier"} <= set(keys)
    assert METRICS["fd"].outputs_in("inception")["fd"][0] == "fid"
    assert METRICS["fd"].outputs_in("classifier")["fd"][0] == "fd_classifier"
    assert keys["fd_classifier"].label == "FD (classifier features)" and keys["fid"].label == "FID"
    assert not any(k.startswith(("classes_covered_", "fd_points")) for k in keys)  # only where the feature is


def test_a_plugin_extractor_is_accepted_by_schema_and_grid_and_scored_by_fd(registries, tmp_path):
    from snakemake.utils import validate

    config = smoke_config(plugins=[str(PIXELS)])
    config["datasets"]["digits"]["extractors"] = ["classifier", "pixels"]
    validate(config, str(schema.SCHEMA))  # the schema leaves names to the registry
    grid = BenchmarkGrid(config)  # loads the plugin, checks the names against the registry
    assert grid.extractors("digits") == ["classifier", "pixels"]
    assert grid.reference_path("digits", "pixels").endswith("/pixels_pooled4_test_360_s12345.npz")
    assert grid.extractor_weights("digits", "pixels") is None and not grid.extractor("pixels").gpu
    assert "fd_pixels" in metric_outputs() and "kid_pixels" in metric_outputs()

    ref = compute_reference("digits", "pixels", tmp_path / "ref.npz", split="test", n_real=300, seed=0)
    # what FD, KID and P/R/D/C declare (KID's and P/R/D/C's real features: one array)
    assert set(load_reference(ref).arrays) == {"mu", "sigma", "sigma_sqrt", "feats", "knn_radius_3", "knn_radius_5"}
    from gan.datasets import get_dataset
    from gan.metrics import score_samples
    from gan.sampling import save_samples

    images = get_dataset("digits", split="train").images_uint8().numpy()[:200]
    save_samples(tmp_path / "s.npz", "images", images, step=1, seed=0)
    result = score_samples(tmp_path / "s.npz", ref, None, seed=0)
    assert set(result["metrics"]) == {"fd_pixels", "kid_pixels", "precision_pixels", "recall_pixels",
                                      "density_pixels", "coverage_pixels"}
    feats = images.astype(np.float64).reshape(200, 1, 4, 2, 4, 2).mean(axis=(3, 5)).reshape(200, -1)
    reference = load_reference(ref)
    assert result["metrics"]["fd_pixels"] == pytest.approx(
        frechet_from_features(feats, reference["mu"], reference["sigma"]), rel=1e-9)


def test_unknown_or_unfit_extractor_and_mode_name_the_bad_value():
    config = smoke_config()
    config["datasets"]["digits"]["extractors"] = ["no_such_net"]
    with pytest.raises(ConfigError, match=r"^datasets\.digits\.extractors: unknown extractor 'no_such_net'; valid: "):
        BenchmarkGrid(config)
    config["datasets"]["digits"]["extractors"] = ["points"]
    with pytest.raises(ConfigError, match="extractor 'points' reads points, the dataset holds images"):
        BenchmarkGrid(config)
    config = smoke_config(scoring={"fid_mode": "bilinear", "n_real": 360})
    with pytest.raises(ConfigError, match=r"scoring\.fid_mode: 'bilinear' is not a mode of the inception extractor"):
        BenchmarkGrid(config)


@pytest.mark.parametrize("mode", ["clean", "legacy_tensorflow"])
def test_inception_logits_are_the_output_layer_without_bias(tmp_path, mode):
    weights = build_standin(tmp_path / incmod.INCEPTION_FILENAME, seed=0)
    ext = incmod.InceptionExtractor(mode, weights, "cpu", 4, 0)
    images = np.random.default_rng(0).integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    out = ext.extract(images, {"pool", "logits"})
    assert out["pool"].shape == (6, 2048) and out["logits"].shape == (6, 1008)
    weight = ext.model.base.output.weight.detach().numpy()
    np.testing.assert_allclose(out["logits"], out["pool"] @ weight.T, rtol=1e-5, atol=1e-5)
    assert set(ext.extract(images, {"pool"})) == {"pool"}  # logits only when a metric asks
    if mode == "legacy_tensorflow":  # the same input as the network's own forward: its no_output_bias softmax
        with torch.no_grad():
            probs = ext.model.base(torch.from_numpy(images).float(), no_output_bias=True).numpy()
        np.testing.assert_allclose(torch.softmax(torch.from_numpy(out["logits"]), 1).numpy(), probs, atol=1e-6)


def test_inception_weights_url_is_clean_fids():
    from cleanfid.downloads_helper import inception_url

    assert incmod.InceptionExtractor.weights.url == inception_url
    assert incmod.InceptionExtractor.weights.default_path() == schema.default("scoring", "inception_weights")


@pytest.mark.parametrize("name", ["smoke.yaml", "config.yaml", "toy.yaml"])
def test_schema_defaults_are_filled_as_snakemake_validates(name):
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config" / name).read_text())
    filled = schema.with_defaults(config)
    validate(config, str(schema.SCHEMA))  # fills the defaults in place
    assert filled == config
