"""Scoring, offline on CPU: clean-fid's distances on known features, exact W1, mode coverage, the Inception path with a
stand-in TorchScript file, the classifier path on digits, missing samples and missing weights."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan import atomic
from gan.datasets import get_dataset
from gan.metrics import METRICS, compute_reference, load_reference, score_samples, sha256_file
from gan.metrics import inception as incmod
from gan.metrics import weights as weightsmod
from gan.metrics.classifier import train_classifier
from gan.metrics.distances import frechet_from_features, kid_seeded, wasserstein1
from gan.metrics.image_features import extract_features, gray_to_rgb
from gan.metrics.toy import mode_statistics

sys.path.insert(0, str(Path(__file__).parent))
from inception_standin import build_standin  # noqa: E402

# torch.jit is deprecated in torch 2.14 (clean-fid's weights are TorchScript); clean-fid passes scipy's deprecated
# sqrtm(disp=...) (removed in SciPy 1.18); singular covariances of a handful of stand-in features
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::scipy.linalg.LinAlgWarning",
                                        "ignore:The `disp` argument is deprecated:DeprecationWarning")


def save_samples(path, samples, kind="images", status="ok", reason="", step=100, seed=3):
    atomic.save_npz(path, kind=np.array(kind), samples=samples, step=np.array(step), seed=np.array(seed),
                status=np.array(status), reason=np.array(reason))
    return path


# ------------------------------------------------------------------------------------------------ distances

def test_frechet_identical_is_zero_and_grows_as_squared_mean_shift():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))
    mu, sigma = feats.mean(0), np.cov(feats, rowvar=False)
    assert abs(frechet_from_features(feats, mu, sigma)) < 1e-6
    delta = rng.normal(size=8)
    assert frechet_from_features(feats + delta, mu, sigma) == pytest.approx(delta @ delta, rel=1e-6)


def test_kid_identical_is_zero_seeded_and_leaves_global_rng_alone():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(400, 16)).astype(np.float32)
    shifted = feats + 1.0
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    same = kid_seeded(feats, feats, seed=0, num_subsets=20, max_subset_size=200)
    far = kid_seeded(feats, shifted, seed=0, num_subsets=20, max_subset_size=200)
    assert abs(same) < 1e-2 * far  # unbiased estimate: ~0 up to O(1/subset size) noise
    assert kid_seeded(feats, shifted, seed=0, num_subsets=20, max_subset_size=200) == far
    assert np.array_equal(np.random.get_state()[1], before)


def test_w1_of_shifted_cloud_equals_shift():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(300, 2))
    shift = np.array([0.3, -0.4])
    assert wasserstein1(points + shift, points) == pytest.approx(0.5, rel=1e-9)
    assert wasserstein1(points, points) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name,k", [("8gaussians", 8), ("25gaussians", 25)])
def test_mode_coverage_perfect_and_single_mode(name, k):
    ds = get_dataset(name)
    perfect = ds.sample(5000, torch.Generator().manual_seed(0)).numpy()
    stats = mode_statistics(perfect, ds.centers.numpy(), ds.std)
    assert stats["modes_covered"] == k and stats["high_quality"] > 0.97  # 1 - exp(-4.5) = 0.989 in 2-D
    one = ds.centers[0].numpy() + np.random.default_rng(0).normal(size=(5000, 2)) * ds.std
    stats = mode_statistics(one, ds.centers.numpy(), ds.std)
    assert stats["modes_covered"] == 1 and stats["high_quality"] > 0.97
    assert stats["mode_kl"] == pytest.approx(np.log(k))  # everything in one of k modes


def test_literature_mode_count_vs_the_stricter_share_rule():
    """VEEGAN/PacGAN count a mode with one high-quality sample; the share rule needs 20% of its uniform share."""
    ds = get_dataset("8gaussians")
    centers = ds.centers.numpy()
    rng = np.random.default_rng(1)
    # 2,500 samples (the literature's count): 2,493 on mode 0, one on each of the other 7 modes
    idx = np.r_[np.zeros(2493, int), np.arange(1, 8)]
    pts = centers[idx] + rng.normal(size=(len(idx), 2)) * ds.std * 0.5
    stats = mode_statistics(pts, centers, ds.std)
    assert stats["modes_covered"] == 8 and stats["modes_covered_share"] == 1
    balanced = ds.sample(20000, torch.Generator().manual_seed(2)).numpy()
    assert mode_statistics(balanced, centers, ds.std)["mode_kl"] < 0.002


# ------------------------------------------------------------------------------------------------ toy scores

def test_toy_reference_and_scores(tmp_path):
    ref = compute_reference("8gaussians", n_real=500, seed=0, results_dir=tmp_path)
    assert ref == tmp_path / "reference/8gaussians/points_exact_train_500_s0.npz"  # gan.layout's one scheme
    with pytest.raises(FileExistsError):
        compute_reference("8gaussians", n_real=500, seed=0, results_dir=tmp_path)
    points = load_reference(ref)["points"].astype(np.float64)
    shift = np.array([0.006, 0.008])  # well within 3 std (0.042) of the modes
    out = tmp_path / "runs/8gaussians/wgan-gp/seed3/scores/step0000100.json"
    samples = save_samples(tmp_path / "runs/8gaussians/wgan-gp/seed3/samples/step0000100.npz",
                           (points + shift).astype(np.float32), kind="points")
    # identity is data the caller passes (the DAG's params), never parsed from the path
    result = score_samples(samples, ref, out, seed=0, dataset="8gaussians", objective="wgan-gp", run_seed=3)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert (result["dataset"], result["objective"], result["seed"], result["step"]) == ("8gaussians", "wgan-gp", 3, 100)
    assert result["kind"] == "points"
    assert result["metrics"]["w1"] == pytest.approx(0.01, rel=1e-4)  # float32 storage of the points
    assert result["metrics"]["modes_covered"] == 8
    assert {"n_gen", "n_real", "split", "mode", "extractor", "eval_seed"} <= result["protocol"].keys()
    assert result["protocol"]["n_real"] == 500 and result["protocol"]["extractor"] == "points"

    swiss = compute_reference("swissroll", n_real=400, seed=0, results_dir=tmp_path)
    gen = get_dataset("swissroll").sample(400, torch.Generator().manual_seed(1)).numpy()
    result = score_samples(save_samples(tmp_path / "s.npz", gen, kind="points"), swiss, None)
    prdc = {f"{k}_points" for k in ("precision", "recall", "density", "coverage")}
    assert set(result["metrics"]) == {"w1"} | prdc and 0 < result["metrics"]["w1"] < 0.2


def test_missing_samples_give_missing_scores(tmp_path):
    samples = save_samples(tmp_path / "s.npz", np.zeros((0, 2), np.float32), kind="points", status="missing",
                           reason="diverged at step 120")
    result = score_samples(samples, tmp_path / "no_reference.npz", tmp_path / "scores.json")
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["status"] == "missing" and saved["reason"] == "diverged at step 120" and saved["metrics"] == {}
    assert result == saved
    nan = save_samples(tmp_path / "nan.npz", np.full((10, 2), np.nan, np.float32), kind="points")
    result = score_samples(nan, tmp_path / "no_reference.npz", None)
    assert result["status"] == "missing" and result["metrics"] == {}


def test_reference_and_score_through_the_cli(tmp_path):
    from gan.cli import main

    ref = tmp_path / "ref.npz"
    assert main(["reference", "--dataset", "25gaussians", "--n-real", "1000", "--out", str(ref)]) == 0
    pts = get_dataset("25gaussians").sample(1000, torch.Generator().manual_seed(5)).numpy()
    samples = save_samples(tmp_path / "s.npz", pts, kind="points")
    assert main(["score", "--samples", str(samples), "--reference", str(ref), "--out", str(tmp_path / "o.json"),
                 "--metric-option", "w1_max_points=500"]) == 0
    scores = json.loads((tmp_path / "o.json").read_text())
    assert scores["metrics"]["modes_covered"] == 25
    assert scores["protocol"]["metric_options"]["w1_points"] == [500, 500]
    assert main(["reference", "--dataset", "25gaussians", "--n-real", "1000", "--out", str(ref)]) == 2  # exists


# ------------------------------------------------------------------------------------------------ Inception

@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return build_standin(tmp_path_factory.mktemp("weights") / incmod.INCEPTION_FILENAME, seed=0)


@pytest.mark.parametrize("mode", ["clean", "legacy_tensorflow"])
def test_mode_mapping_matches_cleanfid_build_feature_extractor(mode, monkeypatch):
    import cleanfid.features

    seen = {}

    class Recorder(torch.nn.Module):
        def __init__(self, path, download=True, resize_inside=False):
            super().__init__()
            seen.update(resize_inside=resize_inside)

    monkeypatch.setattr(cleanfid.features, "InceptionV3W", Recorder)
    cleanfid.features.build_feature_extractor(mode, torch.device("cpu"), use_dataparallel=False)
    assert seen["resize_inside"] == incmod.RESIZE_INSIDE[mode]


@pytest.mark.parametrize("channels", [1, 3])
def test_array_features_equal_cleanfid_folder_features(standin, tmp_path, channels):
    """Our in-memory path gives exactly what clean-fid computes from the same images saved as PNG files."""
    from cleanfid.fid import get_folder_features

    images = np.random.default_rng(channels).integers(0, 256, (5, channels, 12, 12), dtype=np.uint8)
    for i, img in enumerate(images):
        Image.fromarray(img[0] if channels == 1 else img.transpose(1, 2, 0)).save(tmp_path / f"{i}.png")
    model_fn = incmod.load_inception(standin, "clean", "cpu")
    ours = extract_features(images, model_fn, "clean", torch.device("cpu"), batch_size=2,
                                   image_transform=gray_to_rgb)
    theirs = get_folder_features(str(tmp_path), model_fn, num_workers=0, batch_size=2, device=torch.device("cpu"),
                                 mode="clean", verbose=False)
    assert ours.shape == (5, 2048)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_inception_end_to_end_grayscale(standin, tmp_path):
    ref = compute_reference("digits", "inception", None, split="test", n_real=16, weights_path=standin,
                            device="cpu", seed=0, results_dir=tmp_path)
    assert ref.name == "inception_clean_test_16_s0.npz"
    meta = load_reference(ref).meta
    assert meta["n_real"] == 16 and meta["weights_sha256"] == sha256_file(standin)
    real = get_dataset("digits", split="test").images_uint8().numpy()[100:112]
    result = score_samples(save_samples(tmp_path / "s.npz", real), ref, tmp_path / "scores.json",
                           weights_path=standin, device="cpu", seed=7)
    prdc = {f"{k}_inception" for k in ("precision", "recall", "density", "coverage")}
    assert result["status"] == "ok" and set(result["metrics"]) == {"fid", "kid", "is_clean", "is_clean_std"} | prdc
    assert np.isfinite(result["metrics"]["fid"]) and result["metrics"]["fid"] >= 0
    assert {k: result["protocol"][k] for k in ("n_gen", "n_real", "split", "mode", "extractor", "eval_seed")} == \
        {"n_gen": 12, "n_real": 16, "split": "test", "mode": "clean", "extractor": "inception", "eval_seed": 7}


def test_inception_end_to_end_rgb_legacy_tensorflow(standin, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    options = {"path": str(folder), "image_size": 16, "channels": 3}
    ref = compute_reference("folder", "inception", tmp_path / "ref.npz", mode="legacy_tensorflow",
                            weights_path=standin, device="cpu", dataset_options=options)
    samples = save_samples(tmp_path / "s.npz", rng.integers(0, 256, (6, 3, 16, 16), dtype=np.uint8))
    # KID only: one 2048-d Fréchet distance (scipy sqrtm, ~10-40 s here) is already checked above
    result = score_samples(samples, ref, tmp_path / "scores.json", weights_path=standin, device="cpu",
                           metrics=["kid"])
    assert result["protocol"]["mode"] == "legacy_tensorflow" and result["protocol"]["n_real"] == 10
    assert np.isfinite(result["metrics"]["kid"])
    other = build_standin(tmp_path / "other" / incmod.INCEPTION_FILENAME, seed=1)
    with pytest.raises(ValueError, match="not those the reference"):
        score_samples(samples, ref, None, weights_path=other, device="cpu")


def test_missing_weights_error_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / incmod.INCEPTION_FILENAME
    with pytest.raises(incmod.InceptionWeightsMissing) as err:
        compute_reference("digits", "inception", tmp_path / "ref.npz", weights_path=missing, device="cpu")
    assert str(missing) in str(err.value) and incmod.InceptionExtractor.weights.url in str(err.value)
    assert not (tmp_path / "ref.npz").exists()


def test_fetch_weights_is_atomic_and_checked(standin, tmp_path, monkeypatch):
    payload = Path(standin).read_bytes()
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return io.BytesIO(payload if len(calls) == 1 else b"not a model")

    monkeypatch.setattr(weightsmod.urllib.request, "urlopen", fake_urlopen)
    pinned = dataclasses.replace(incmod.InceptionExtractor.weights, sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(incmod.InceptionExtractor, "weights", pinned)  # the stand-in's hash
    dest = tmp_path / "resources" / incmod.INCEPTION_FILENAME
    assert weightsmod.fetch_weights("inception", dest) == dest and dest.read_bytes() == payload
    assert weightsmod.fetch_weights("inception", dest) == dest and len(calls) == 1  # present: no second download
    bad = tmp_path / "bad" / incmod.INCEPTION_FILENAME
    with pytest.raises(RuntimeError):
        weightsmod.fetch_weights("inception", bad)
    assert not bad.exists() and list(bad.parent.iterdir()) == []


# ------------------------------------------------------------------------------------------------ classifier

def test_classifier_end_to_end_on_digits(tmp_path):
    weights = tmp_path / "clf" / "digits_s0.pt"
    record = train_classifier("digits", weights, epochs=20, holdout=0.2, seed=0, device="cpu", num_threads=1)
    assert record["test_accuracy"] > 0.9
    assert json.loads(weights.with_suffix(".json").read_text())["test_accuracy"] == record["test_accuracy"]
    ref = compute_reference("digits", "classifier", None, split="train", weights_path=weights, device="cpu",
                            results_dir=tmp_path)
    assert ref.name == "classifier_native_train_1437_s0.npz"
    test = get_dataset("digits", split="test").images_uint8().numpy()
    noise = np.random.default_rng(0).integers(0, 256, test.shape, dtype=np.uint8)
    real = score_samples(save_samples(tmp_path / "real.npz", test), ref, None, device="cpu")["metrics"]
    fake = score_samples(save_samples(tmp_path / "noise.npz", noise), ref, None, device="cpu")["metrics"]
    assert real["fd_classifier"] * 20 < fake["fd_classifier"]
    assert real["kid_classifier"] < fake["kid_classifier"]
    assert real["classes_covered"] == 10 and fake["classes_covered"] <= 6
    assert real["confident_fraction"] > 0.9 > fake["confident_fraction"]
    assert real["class_entropy"] == pytest.approx(np.log(10), abs=0.02)


def test_every_metric_declares_its_outputs():
    from gan.metrics import metric_outputs

    outputs = metric_outputs()
    for metric in METRICS.values():
        assert metric.outputs and metric.feature, metric.name
    assert outputs["fid"].higher_is_better is False and outputs["modes_covered"].higher_is_better is True
    assert outputs["fid"].floor and outputs["w1"].floor


def test_a_metric_returning_an_undeclared_output_is_an_error(tmp_path):
    from gan.metrics import Output, register_metric

    @register_metric("test_undeclared", feature="points", outputs={"declared": Output("d", False)})
    def bad(ctx):
        return {"declared": 1.0, "surprise": 2.0}

    try:
        ref = compute_reference("8gaussians", n_real=200, seed=0, results_dir=tmp_path)
        samples = save_samples(tmp_path / "s.npz", load_reference(ref)["points"], kind="points")
        with pytest.raises(ValueError, match="undeclared output.*surprise"):
            score_samples(samples, ref, None, metrics=["test_undeclared"])
    finally:
        METRICS.pop("test_undeclared")
