import numpy as np
import pytest
import torch
from PIL import Image

from gan.datasets import DatasetNotFound, get_dataset


def test_eight_gaussians_match_the_reference_definition():
    ds = get_dataset("8gaussians")
    angles = np.arange(8) * np.pi / 4
    expected = 2 * np.stack([np.cos(angles), np.sin(angles)], 1) / 1.414
    assert np.allclose(ds.centers.numpy(), expected, atol=1e-6)
    x = ds.sample(4000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, ds.centers).min(1).values
    assert nearest.max() < 6 * ds.std  # every point within a few std of a centre; std 0.02/1.414
    assert ds.std == pytest.approx(0.02 / 1.414)


def test_toy_sampling_is_seeded():
    for name in ("8gaussians", "25gaussians", "swissroll"):
        ds = get_dataset(name)
        a = ds.sample(10, torch.Generator().manual_seed(3))
        b = ds.sample(10, torch.Generator().manual_seed(3))
        assert torch.equal(a, b)


def test_twenty_five_gaussians_grid():
    ds = get_dataset("25gaussians")
    assert len(ds.centers) == 25 and ds.centers.abs().max().item() == pytest.approx(4 / 2.828)


def test_digits_offline_in_minus_one_one():
    train, test = get_dataset("digits"), get_dataset("digits", split="test")
    assert train.images.shape[1:] == (1, 8, 8) and len(train) + len(test) == 1797
    assert train.images.min() == -1 and train.images.max() == 1
    assert train.num_classes == 10 and train.images_uint8().dtype == torch.uint8


def test_missing_torchvision_dataset_says_which_files_where(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"mnist.*MNIST/raw.*train-images-idx3-ubyte.gz"):
        get_dataset("mnist", data_root=tmp_path)


def test_image_folder_is_resized_and_scaled(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = get_dataset("folder", path=tmp_path, image_size=16)
    assert ds.images.shape == (6, 3, 16, 16) and ds.num_classes == 2
    assert ds.images.min() >= -1 and ds.images.max() <= 1


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'no-such-set'; valid names: .*8gaussians.*digits"):
        get_dataset("no-such-set")


def test_prepared_file_equals_the_raw_decode(tmp_path):
    from gan.datasets import dataset_spec, prepare_dataset

    prepare_dataset(dataset_spec("digits"), tmp_path / "downloads", tmp_path / "digits.pt")
    for split in ("train", "test"):
        prepared = get_dataset("digits", split=split, prepared=tmp_path / "digits.pt")
        raw = get_dataset("digits", split=split)
        assert torch.equal(prepared.images, raw.images) and torch.equal(prepared.labels, raw.labels)
    with pytest.raises(ValueError, match="holds digits"):
        get_dataset("mnist", prepared=tmp_path / "digits.pt")


def test_image_size_is_an_option_of_the_registration():
    from gan.datasets import dataset_spec

    assert dataset_spec("mnist").shape == (1, 28, 28) and dataset_spec("mnist", image_size=32).shape == (1, 32, 32)
    assert dataset_spec("8gaussians").describe()["num_classes"] == 8
    with pytest.raises(ValueError, match="has no option.* colour; valid: image_size"):
        dataset_spec("mnist", colour=1)
