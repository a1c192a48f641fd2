"""The Inception Score and precision/recall/density/coverage: against independent implementations, on fixtures
whose answer is known, and end to end (the stand-in Inception has the output layer IS reads)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.metrics import compute_reference, load_reference, metric_outputs, score_samples
from gan.metrics import inception as incmod
from gan.metrics.inception_score import inception_score
from gan.metrics.prdc import DC_K, PR_K, knn_radii, prdc
from gan.sampling import save_samples

sys.path.insert(0, str(Path(__file__).parent))
from inception_standin import build_standin  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::scipy.linalg.LinAlgWarning",
                                        "ignore:The `disp` argument is deprecated:DeprecationWarning")


# ------------------------------------------------------------------------------------------------ Inception Score

def entropy_formula_is(logits: np.ndarray, splits: int, seed: int) -> tuple[float, float]:
    """exp(H(mean p) - mean H(p)) per split, written from the definition with scipy (not our code's KL form)."""
    from scipy.special import softmax
    from scipy.stats import entropy

    p = softmax(np.asarray(logits, np.float64)[np.random.RandomState(seed).permutation(len(logits))], axis=1)
    n = len(p)
    scores = [np.exp(entropy(part.mean(0)) - entropy(part, axis=1).mean())
              for part in (p[i * n // splits:(i + 1) * n // splits] for i in range(splits))]
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_equals_the_entropy_formula_and_torch_fidelity():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(1000, 1008)).astype(np.float32)
    ours = inception_score(logits, 10, seed=7)
    assert ours == pytest.approx(entropy_formula_is(logits, 10, 7), rel=1e-10)
    fidelity = pytest.importorskip("torch_fidelity.metric_isc")
    theirs = fidelity.isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=7)
    assert ours == pytest.approx((theirs["inception_score_mean"], theirs["inception_score_std"]), rel=1e-10)


def test_uniform_predictions_give_one_and_k_equiprobable_classes_give_k():
    assert inception_score(np.zeros((500, 1008)), 10, 0) == pytest.approx((1.0, 0.0), abs=1e-12)
    k = 7
    one_hot = np.full((k * 300, 1008), -1e4)
    one_hot[np.arange(k * 300), np.arange(k * 300) % k] = 0.0  # p is one-hot: H(p) = 0
    assert inception_score(one_hot, 1, 0)[0] == pytest.approx(k, rel=1e-12)
    mean, std = inception_score(one_hot, 10, 0)  # each shuffled split holds the classes nearly evenly
    assert k * 0.97 < mean <= k and std > 0


def test_shuffling_is_reproducible_with_the_recorded_seed_and_matters():
    logits = np.random.default_rng(1).normal(size=(400, 20))
    logits[np.arange(400), np.arange(400) // 40] += 6.0  # class-sorted: unshuffled splits hold one class each
    assert inception_score(logits, 10, 3) == inception_score(logits, 10, 3)
    assert inception_score(logits, 10, 3) != inception_score(logits, 10, 4)
    unshuffled = np.mean([entropy_formula_is(logits[i * 40:(i + 1) * 40], 1, 0)[0] for i in range(10)])
    assert unshuffled < 0.5 * inception_score(logits, 10, 3)[0]


def test_too_few_samples_for_the_splits_is_one_line():
    with pytest.raises(ValueError, match="at least 10 samples"):
        inception_score(np.zeros((9, 1008)), 10, 0)


# ------------------------------------------------------------------------------------------------ P/R/D/C

def brute_force(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The definitions on full distance matrices (scipy's cdist), nothing shared with gan.metrics.prdc."""
    from scipy.spatial.distance import cdist

    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    rr, ff, fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r3, r5 = np.sort(rr, 1)[:, PR_K], np.sort(rr, 1)[:, DC_K]
    f3 = np.sort(ff, 1)[:, PR_K]
    return {"precision": (fr <= r3[None]).any(1).mean(), "recall": (fr <= f3[:, None]).any(0).mean(),
            "density": (fr < r5[None]).sum(1).mean() / DC_K, "coverage": (fr.min(0) < r5).mean()}


def cloud(n: int, dim: int, seed: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, dim)) * scale).astype(np.float32)


def test_prdc_equals_brute_force_and_the_prdc_package():
    real, fake = cloud(400, 12, 0), cloud(300, 12, 1, 0.8) + np.float32(0.3)
    ours = prdc(real, fake)
    assert ours == pytest.approx(brute_force(real, fake), abs=1e-12)
    package = pytest.importorskip("prdc")
    assert ours["density"] == pytest.approx(package.compute_prdc(real, fake, DC_K)["density"], abs=1e-9)
    assert ours["coverage"] == pytest.approx(package.compute_prdc(real, fake, DC_K)["coverage"], abs=1e-9)
    # its precision and recall use < where Kynkäänniemi et al. use <=: equal on continuous features
    assert ours["precision"] == pytest.approx(package.compute_prdc(real, fake, PR_K)["precision"], abs=1e-9)
    assert ours["recall"] == pytest.approx(package.compute_prdc(real, fake, PR_K)["recall"], abs=1e-9)


def test_blocked_equals_unblocked():
    real, fake = cloud(300, 9, 2), cloud(250, 9, 3, 1.2)
    whole = prdc(real, fake, block_bytes=1 << 40)
    for block_bytes in (8 * 300, 8 * 300 * 5, 8 * 300 * 40):  # blocks of 1, 5 (columns in 2 slices) and 40 rows
        assert prdc(real, fake, block_bytes=block_bytes) == whole
        # the radii to the last bit but one: BLAS sums the products of a column slice in another order
        radii = knn_radii(real, block_bytes=block_bytes)
        np.testing.assert_allclose(radii[DC_K], knn_radii(real, block_bytes=1 << 40)[DC_K], rtol=1e-14)


def test_identical_distributions_give_density_one_and_coverage_one_minus_two_to_the_minus_k():
    values = [prdc(cloud(2000, 4, 2 * s), cloud(2000, 4, 2 * s + 1)) for s in range(3)]
    density = np.mean([v["density"] for v in values])
    coverage = np.mean([v["coverage"] for v in values])
    assert density == pytest.approx(1.0, abs=0.05)
    assert coverage == pytest.approx(1 - 2.0 ** -DC_K, abs=0.015)


def test_a_collapsed_generator_has_high_precision_and_low_recall():
    real = cloud(1000, 8, 4)
    near = real[np.linalg.norm(real - real[0], axis=1).argsort()[:50]]  # a narrow part of the real set
    fake = near[np.random.default_rng(5).integers(0, 50, 1000)] + cloud(1000, 8, 6, 0.01)
    values = prdc(real, fake)
    assert values["precision"] > 0.9 and values["recall"] < 0.1 and values["coverage"] < 0.3
    assert values == pytest.approx(brute_force(real, fake), abs=1e-12)
    swapped = prdc(fake, real)  # the other way round, the numbers trade places: the convention is tested
    assert swapped["recall"] > 0.9 and swapped["precision"] < 0.1


def test_a_reference_made_before_prdc_names_itself_and_the_remedy(tmp_path):
    from gan import atomic

    ref = compute_reference("8gaussians", n_real=200, seed=0, results_dir=tmp_path)
    old = load_reference(ref)
    atomic.save_npz(ref, meta=np.array(json.dumps(old.meta)), points=old.arrays["points"])
    save_samples(tmp_path / "s.npz", "points", old.arrays["points"][:50], step=1, seed=0)
    with pytest.raises(ValueError, match=f"reference {ref} has no feats, knn_radius_3, knn_radius_5 .*delete {ref}"):
        score_samples(tmp_path / "s.npz", ref, None)


def test_too_few_samples_for_the_neighbourhood_is_one_line():
    with pytest.raises(ValueError, match="need more than 5 samples, got 5"):
        knn_radii(cloud(5, 2, 0))


# ------------------------------------------------------------------------------------------------ registered

def test_keys_labels_and_directions():
    outputs = metric_outputs()
    assert outputs["is"].higher_is_better and outputs["is"].floor and "legacy" in outputs["is"].label
    assert outputs["is_clean"].higher_is_better and "clean" in outputs["is_clean"].label
    assert outputs["is_std"].higher_is_better is None and outputs["is_clean_std"].higher_is_better is None
    for space in ("inception", "classifier", "points"):
        for key in ("precision", "recall", "density", "coverage"):
            assert outputs[f"{key}_{space}"].higher_is_better and outputs[f"{key}_{space}"].floor
    assert "VGG16" in outputs["precision_inception"].label
    assert not any(k.startswith("is_") and k.endswith(("classifier", "points")) for k in outputs)
    # the headline metrics stay what they were
    assert min(o.rank for k, o in outputs.items() if k.startswith(("is", "precision", "recall", "density",
                                                                    "coverage"))) > 6


@pytest.mark.parametrize("mode,key", [("clean", "is_clean"), ("legacy_tensorflow", "is")])
def test_inception_score_and_prdc_end_to_end_with_the_standin(tmp_path, mode, key):
    from gan.datasets import get_dataset

    standin = build_standin(tmp_path / "w" / incmod.INCEPTION_FILENAME, seed=0)
    ref = compute_reference("digits", "inception", tmp_path / "ref.npz", split="test", n_real=12, mode=mode,
                            weights_path=standin, device="cpu", seed=0)
    arrays = load_reference(ref).arrays
    assert arrays["feats"].shape == (12, 2048) and arrays["knn_radius_5"].shape == (12,)
    images = get_dataset("digits", split="test").images_uint8().numpy()[100:112]
    save_samples(tmp_path / "s.npz", "images", images, step=1, seed=0)
    result = score_samples(tmp_path / "s.npz", ref, None, weights_path=standin, device="cpu", seed=11)
    values = result["metrics"]
    assert values[key] >= 1.0 and np.isfinite(values[f"{key}_std"])
    assert result["protocol"]["mode"] == mode
    assert result["protocol"]["metric_options"] == {"is_splits": 10, "is_shuffle_seed": 11}
    # IS is what the function gives on the logits of one pass of the extractor
    ext = incmod.InceptionExtractor(mode, standin, "cpu", 64, 0)
    feats = ext.extract(images, {"pool", "logits"})
    assert values[key] == pytest.approx(inception_score(feats["logits"], 10, 11)[0], rel=1e-9)
    radii = {PR_K: arrays["knn_radius_3"], DC_K: arrays["knn_radius_5"]}
    expected = prdc(arrays["feats"], feats["pool"], radii)
    assert {k: values[f"{k}_inception"] for k in expected} == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------------------------ report

def _scores(with_is: bool):
    import pandas as pd

    rows = []
    for obj, gain in (("gan", 0.5), ("wgan-gp", 1.0)):
        for seed in (0, 1, 2):
            for step in (100, 200, 300):
                rows.append({"dataset": "cifar10", "objective": obj, "seed": seed, "step": step, "status": "ok",
                             "kind": "images", "wall_clock_s": step * 0.1, "run_status": "finished",
                             "fid": 100 - gain * step / 10 + seed,
                             **({"is": 2 + gain * step / 100 + 0.1 * seed, "is_std": 0.05} if with_is else {})})
                rows.append({"dataset": "8gaussians", "objective": obj, "seed": seed, "step": step, "status": "ok",
                             "kind": "points", "wall_clock_s": step * 0.01, "run_status": "finished",
                             "w1": 1 / step, "precision_points": 0.5 + gain / 4})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("with_is", [True, False])
def test_the_inception_score_figure_draws_is_or_says_why_not(tmp_path, with_is):
    import pandas as pd
    from PIL import Image

    from gan.report.registry import plan_figures

    floors = pd.DataFrame([{"dataset": "cifar10", "metric": "is", "floor_mean": 6.0, "floor_std": 0.1,
                            "floor_repeats": 3, "n_gen": 500, "note": ""}])
    spaces = {"8gaussians": ["points"], "cifar10": ["inception"]}
    plan = plan_figures(["8gaussians", "cifar10"], ["8gaussians"], spaces=spaces)
    planned = next(p for p in plan if p.stem == "inception_score")
    assert planned.datasets == ("cifar10",)
    # a benchmark without the Inception space (the demo) draws no Inception Score figure at all
    assert "inception_score" not in {p.stem for p in plan_figures(["8gaussians", "digits"], ["8gaussians"],
                                                                  spaces={"8gaussians": ["points"],
                                                                          "digits": ["classifier"]})}
    out = planned.spec.draw([tmp_path / "is.png"], planned, None, scores=_scores(with_is), floors=floors)
    pixels = np.asarray(Image.open(out[0]).convert("L"), dtype=float)
    assert pixels.std() > 5


def test_a_higher_is_better_floor_reads_as_the_real_datas_line_in_the_tables(tmp_path):
    import pandas as pd

    from gan.report.tables import final_scores_table, floor_notes, toy_table

    scores = _scores(True)
    floors = pd.DataFrame([{"dataset": "cifar10", "metric": m, "floor_mean": v, "floor_std": 0.1, "floor_repeats": 3,
                            "n_gen": 500, "note": ""} for m, v in (("fid", 2.0), ("is", 6.0))])
    _, display, long, _ = final_scores_table(scores, None, None, floors)
    row = long[(long.dataset == "cifar10") & (long.metric == "is")].iloc[0]
    assert row.floor_mean == 6.0
    assert display[display.dataset == "cifar10"].iloc[0]["metric"].startswith("FID")  # the headline stays FID
    assert "Inception Score" in " ".join(floor_notes(floors, ["cifar10"]))
    _, toy_display, _ = toy_table(scores, None, floors)
    assert "precision (k=3) (points features) ↑" in toy_display.columns


def test_the_eval_bench_times_fd_is_and_prdc_on_the_same_features():
    from gan.bench import format_eval, run_metrics_bench

    row = run_metrics_bench(n=300, dim=16, device="cpu")
    times = [v for k, v in row.items() if k.startswith("s_")]
    assert len(times) == 5 and all(t > 0 for t in times) and 1 <= row["is"] <= 1008
    assert 0 <= row["prdc_precision"] <= 1 and 0 <= row["prdc_coverage"] <= 1
    text = format_eval({"checkpoints": 1, "dataset": "digits", "n": 10, "weights": "w", "device": "cpu",
                        "s_per_checkpoint_per_checkpoint_jobs": 1.0, "s_per_checkpoint_per_run_jobs": 1.0,
                        "metrics": row}, None)
    assert "IS" in text and "precision/recall/density/coverage" in text and "N=300" in text


# ------------------------------------------------------------------------------------------------ the DAG

@pytest.mark.slow
def test_is_and_prdc_reach_the_tables_floors_and_figures_of_a_smoke_dag(tmp_path):
    """digits scored in Inception's space too (the stand-in in place of the download: it has the output layer IS
    reads) and in the classifier's, 8 gaussians in the points': every new column present and finite."""
    import pandas as pd

    from workflow_helpers import (SIDE_STAGES_OFF, complete_config, copy_workflow, results_dir, smoke_config, snakemake,
                                  write_config)

    work = copy_workflow(tmp_path / "work")
    weights = build_standin(work / "resources" / incmod.INCEPTION_FILENAME, seed=0)
    smoke = smoke_config()
    config = smoke_config(
        experiment="gan-bench-is-prdc", seeds=[0], objectives=["gan", "wgan-gp"], objective_settings={},
        datasets={"8gaussians": {**smoke["datasets"]["8gaussians"], "checkpoint_steps": [50, 100], "samples": 300,
                                 "train": {**smoke["datasets"]["8gaussians"]["train"], "steps": 100}},
                  "digits": {**smoke["datasets"]["digits"], "checkpoint_steps": [20, 40], "samples": 200,
                             "extractors": ["classifier", "inception"],
                             "train": {**smoke["datasets"]["digits"]["train"], "steps": 40}}},
        scoring={**smoke["scoring"], "fid_mode": "legacy_tensorflow", "floor_repeats": 2,
                 "inception_weights": str(weights.relative_to(work))},
        mlflow={"enabled": False}, **SIDE_STAGES_OFF)
    path = write_config(work, "is_prdc.yaml", config)
    snakemake(work, "--cores", "2", *complete_config(path.relative_to(work)))
    tables = work / results_dir(config) / "tables"
    scores = pd.read_csv(tables / "scores.csv")
    ok = scores[scores.status == "ok"]
    columns = {"digits": ["is", "is_std"] + [f"{k}_{space}" for space in ("inception", "classifier")
                                             for k in ("precision", "recall", "density", "coverage")],
               "8gaussians": [f"{k}_points" for k in ("precision", "recall", "density", "coverage")]}
    floors = pd.read_csv(tables / "floors.csv").set_index(["dataset", "metric"])
    every = pd.read_csv(tables / "final_scores_all_metrics.csv")
    for dataset, keys in columns.items():
        rows = ok[ok.dataset == dataset]
        assert len(rows) and np.isfinite(rows[keys].to_numpy(float)).all(), rows[keys]
        for key in keys:
            assert np.isfinite(floors.loc[(dataset, key), "floor_mean"]), key
        shown = every[(every.dataset == dataset) & every.metric.isin(keys)]
        assert set(shown.metric) == set(keys) and np.isfinite(shown.floor_mean).all()
    assert (ok.loc[ok.dataset == "digits", "is"] >= 1).all()
    assert "precision (k=3) (points features) ↑" in (tables / "toy.md").read_text()
    assert (work / results_dir(config) / "figures" / "inception_score.png").stat().st_size > 0
