"""Real-vs-real floors: unseen real samples scored like generated ones, at the same N and protocol."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan.datasets import dataset_spec, get_dataset, prepare_dataset
from gan.metrics import compute_reference
from gan.metrics.floor import compute_floor, real_pool


def test_toy_floor_is_the_sampling_noise_of_a_perfect_generator(tmp_path):
    ref = compute_reference("8gaussians", n_real=1000, seed=7, results_dir=tmp_path)
    out = compute_floor("8g", "8gaussians", {}, {"points": ref}, n_gen=1000, repeats=4, eval_seed=7,
                        out_json=tmp_path / "floor.json")
    assert json.loads((tmp_path / "floor.json").read_text()) == json.loads(json.dumps(out))
    w1 = out["metrics"]["w1"]
    assert len(w1["values"]) == 4 and len(set(w1["values"])) == 4  # fresh draws each repeat
    # PAPERS.md: two independent samples of 8 gaussians at n = 1000 are about 0.09 apart in W1
    assert 0.04 < w1["mean"] < 0.15 and w1["std"] > 0
    assert out["metrics"]["modes_covered"]["mean"] == 8 and out["n_gen"] == 1000


def test_image_floor_uses_only_images_neither_the_reference_nor_the_classifier_saw(tmp_path):
    from gan.metrics.classifier import heldout_indices, train_classifier
    from gan.metrics.floor import seen_by_extractors

    prepared = tmp_path / "digits.pt"
    prepare_dataset(dataset_spec("digits"), tmp_path / "dl", prepared)
    # the pool leaves out the reference's own subset: test split 360, reference 300 -> 60 unused + 1437 train
    assert len(real_pool("digits", {}, prepared, {"split": "test", "n_real": 300, "seed": 0})) == 60 + 1437
    weights = tmp_path / "classifier.pt"
    record = train_classifier("digits", weights, epochs=2, holdout=0.4, prepared=prepared)
    heldout = heldout_indices(1437, 0.4, 0)
    assert record["heldout_train_indices"] == heldout.tolist() and record["n_train"] == 1437 - len(heldout) == 862
    # seeded: a second training writes the same bytes (score files record the weights' sha256)
    train_classifier("digits", tmp_path / "again.pt", epochs=2, holdout=0.4, prepared=prepared)
    assert weights.read_bytes() == (tmp_path / "again.pt").read_bytes()
    # the classifier's training images are out of the pool: 60 unused test images + the 575 held out
    seen = seen_by_extractors({"classifier": weights})
    assert len(np.intersect1d(seen["train"], heldout)) == 0 and len(seen["train"]) == 862
    train_images = get_dataset("digits", split="train", prepared=prepared).images_uint8().numpy()
    pool = real_pool("digits", {}, prepared, {"split": "test", "n_real": 300, "seed": 0}, seen=seen)
    assert len(pool) == 60 + 575
    trained_on = {img.tobytes() for img in train_images[seen["train"]]}
    unseen = {img.tobytes() for img in train_images[heldout]}
    assert not any(img.tobytes() in trained_on - unseen for img in pool)  # (8x8 digits repeat: compare sets)
    ref = compute_reference("digits", "classifier", tmp_path / "ref.npz", split="test", n_real=300, seed=0,
                            weights_path=weights, prepared=prepared)
    out = compute_floor("digits", "digits", {}, {"classifier": ref}, n_gen=300, repeats=2, eval_seed=0,
                        out_json=tmp_path / "floor.json", prepared=prepared, weights={"classifier": weights})
    assert out["n_gen"] == 300 and out["pool"] == 635 and out["repeat_overlap"] is None and out["note"] == ""
    fd = out["metrics"]["fd_classifier"]
    assert len(fd["values"]) == 2 and all(v > 0 for v in fd["values"]) and np.isfinite(fd["std"])
    # 500 of 635 per repeat cannot be disjoint: the file says how much two repeats share
    out = compute_floor("digits", "digits", {}, {"classifier": ref}, n_gen=500, repeats=2, eval_seed=0,
                        out_json=tmp_path / "floor1.json", prepared=prepared, weights={"classifier": weights})
    assert out["repeat_overlap"] == pytest.approx(500 / 635, abs=1e-4) and "understates" in out["note"]
    # a reference on the whole train split leaves only the 360 test images: the floor says it is at N=360
    full = compute_reference("digits", "classifier", tmp_path / "full.npz", split="train", n_real=1437, seed=0,
                             weights_path=weights, prepared=prepared)
    out = compute_floor("digits", "digits", {}, {"classifier": full}, n_gen=500, repeats=2, eval_seed=0,
                        out_json=tmp_path / "floor2.json", prepared=prepared, weights={"classifier": weights})
    assert out["n_gen"] == 360 and "only 360 unseen real images" in out["note"]
