"""Stacked digits, the mode-collapse benchmark: 1,000 modes counted by a per-channel classifier, KL to uniform."""
from __future__ import annotations

import numpy as np
import pytest

from gan.datasets import dataset_spec, get_dataset, prepare_dataset
from gan.metrics import compute_reference, score_samples
from gan.metrics.classifier import train_classifier
from gan.sampling import save_samples


def test_stacked_digits_have_1000_modes_and_per_channel_labels():
    ds = get_dataset("stacked_digits", stacks=20000)
    assert ds.images.shape[1:] == (3, 8, 8) and ds.num_classes == 1000
    assert len(set(ds.labels.tolist())) == 1000
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
    record = train_classifier("stacked_digits", weights, epochs=5, prepared=prepared,
                              dataset_options={"stacks": 3000})
    ref = compute_reference("stacked_digits", "classifier", tmp / "ref.npz", split="train", n_real=2000,
                            weights_path=weights, prepared=prepared, dataset_options={"stacks": 3000})
    return tmp, prepared, weights, ref, record


@pytest.mark.slow
def test_modes_of_real_stacks_vs_a_collapsed_generator(stacked):
    tmp, prepared, weights, ref, record = stacked
    assert record["per_channel"] and record["test_accuracy"] > 0.9  # single digits, per channel
    real = get_dataset("stacked_digits", split="test", prepared=prepared, stacks=3000).images_uint8().numpy()
    save_samples(tmp / "real.npz", "images", real, 0, 0)
    scores = score_samples(tmp / "real.npz", ref, None)
    m = scores["metrics"]
    # 3,000 real stacks over 1,000 modes hit 1000 * (1 - (1 - 1/1000)^3000) = 950 modes on average; the
    # histogram of 3 samples per bin is near uniform (sampling KL about (K - 1) / 2N = 0.17 nats)
    assert m["stacked_modes"] > 900 and m["stacked_kl"] < 0.4
    assert "classes_covered" not in m  # the single-label class metrics do not apply per channel
    collapsed = np.repeat(real[:1], 500, axis=0)
    save_samples(tmp / "one.npz", "images", collapsed, 0, 0)
    m = score_samples(tmp / "one.npz", ref, None)["metrics"]
    assert m["stacked_modes"] == 1 and m["stacked_kl"] == pytest.approx(np.log(1000))
    assert m["fd_classifier"] > 10 * scores["metrics"]["fd_classifier"]
