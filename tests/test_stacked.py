"""Stacked digits, the mode-collapse benchmark: 1,000 modes counted by a per-channel classifier, KL to uniform."""
from __future__ import annotations

import numpy as np
import pytest

from gan.datasets import dataset_spec, get_dataset, prepare_dataset
from gan.metrics import compute_reference, score_samples
from gan.metrics.classifier import train_classifier
from gan.sampling import save_samples


def test_stacked_digits_have_1000_modes_and_per_channel_labels():
    ds = get_dataset("stacked_digits")
    assert ds.images.shape == (10000, 3, 8, 8) and ds.num_classes == 1000
    counts = np.bincount(ds.labels.numpy(), minlength=1000)
    assert (counts == 10).all()  # every mode, equally often (the default's 10,000 stacks)
    per_channel = dataset_spec("stacked_digits").channel_labels(ds.labels[:2])
    assert per_channel.shape == (2, 3) and (per_channel[:, 0] * 100 + per_channel[:, 1] * 10
                                            + per_channel[:, 2]).tolist() == ds.labels[:2].tolist()
    with pytest.raises(ValueError, match="source"):
        dataset_spec("stacked_digits", source="cifar10")


@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stacked")
    prepared = tmp / "stacked.pt"
    prepare_dataset(dataset_spec("stacked_digits", stacks=3000), tmp / "dl", prepared)
    weights = tmp / "classifier.pt"
    record = train_classifier("stacked_digits", weights, epochs=5, holdout=0.2, prepared=prepared,
                              dataset_options={"stacks": 3000})
    ref = compute_reference("stacked_digits", "classifier", tmp / "ref.npz", split="train", n_real=2000,
                            weights_path=weights, prepared=prepared, dataset_options={"stacks": 3000})
    return tmp, prepared, weights, ref, record


@pytest.mark.slow
def test_modes_of_real_stacks_vs_collapse_noise_and_blends(stacked):
    """Real stacks cover (nearly) every mode; a collapsed generator one; and neither uniform noise nor blends of two
    digits per channel (which an argmax still calls some digit) come near real stacks, because modes are counted
    among confidently classified stacks only."""
    tmp, prepared, weights, ref, record = stacked
    assert record["per_channel"] and record["test_accuracy"] > 0.9  # single digits, per channel
    real = get_dataset("stacked_digits", split="test", prepared=prepared, stacks=3000).images_uint8().numpy()

    def score(name, images):
        save_samples(tmp / f"{name}.npz", "images", images, 0, 0)
        return score_samples(tmp / f"{name}.npz", ref, None)["metrics"]

    m_real = score("real", real)
    # 3,000 balanced real stacks hold every mode 3 times; most are confidently classified
    assert m_real["stacked_confident"] > 0.6 and m_real["stacked_modes"] > 900 and m_real["stacked_kl"] < 0.4
    assert "classes_covered" not in m_real  # the single-label class metrics do not apply per channel
    m = score("one", np.repeat(real[:1], 500, axis=0))
    # one stack 500 times: one mode (or none, if that stack is not confidently classified)
    assert m["stacked_confident"] in (0.0, 1.0) and m["stacked_modes"] == m["stacked_confident"]
    if m["stacked_modes"]:
        assert m["stacked_kl"] == pytest.approx(np.log(1000))
    assert m["fd_classifier"] > 10 * m_real["fd_classifier"]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=real.shape, dtype=np.uint8)
    blends = ((real.astype(np.float64) + real[rng.permutation(len(real))]) / 2).round().astype(np.uint8)
    for name, images in (("noise", noise), ("blends", blends)):
        m = score(name, images)
        assert m["stacked_modes"] < 0.5 * m_real["stacked_modes"], (name, m)
        assert m["stacked_confident"] < 0.5 * m_real["stacked_confident"], (name, m)
