"""The training fast path (tools/fast_path.py, shown in docs/training.md): exact pixels, uint8, cached."""

import numpy as np
import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays, dataset_arrays
from tests.fixtures import SAMPLE_DIR
from tools.fast_path import as_arrays


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    builder = fm.FashionMnist(config_name="sample", cache_dir=str(tmp_path_factory.mktemp("fast_path_cache")))
    builder.download_and_prepare()
    return builder.as_dataset()


@pytest.fixture(scope="module")
def arrays(sample):
    return as_arrays(sample)


@pytest.mark.parametrize("split", ["train", "test"])
def test_arrays_are_the_decoded_pngs_and_the_archives(sample, arrays, split):
    batch = arrays[split][:]
    images, labels = batch["image"], batch["label"]
    assert isinstance(images, np.ndarray) and images.dtype == np.uint8
    assert images.shape == (sample[split].num_rows, 28, 28)
    assert labels.dtype == np.uint8 and labels.shape == (sample[split].num_rows,)
    decoded_images, decoded_labels = dataset_arrays(sample[split])
    np.testing.assert_array_equal(images, decoded_images)
    np.testing.assert_array_equal(labels, decoded_labels)
    archive_images, archive_labels = archive_arrays(SAMPLE_DIR, split)
    np.testing.assert_array_equal(images, archive_images)
    np.testing.assert_array_equal(labels, archive_labels)


def test_slices_are_batches_in_the_archives_order(arrays):
    archive_images, archive_labels = archive_arrays(SAMPLE_DIR, "train")
    batch = arrays["train"][16:48]
    assert batch["image"].shape == (32, 28, 28)
    np.testing.assert_array_equal(batch["image"], archive_images[16:48])
    np.testing.assert_array_equal(batch["label"], archive_labels[16:48])


def test_features_keep_the_class_names(sample, arrays):
    features = arrays["train"].features
    assert features["label"] == sample["train"].features["label"]
    assert (features["image"].shape, features["image"].dtype) == ((28, 28), "uint8")
    assert arrays["train"].format["type"] == "numpy"


def test_the_decoded_column_is_cached_and_reused(sample, arrays):
    again = as_arrays(sample)
    for split in ("train", "test"):
        assert again[split].cache_files == arrays[split].cache_files
        assert all("cache-" in entry["filename"] for entry in again[split].cache_files)
