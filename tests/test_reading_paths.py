"""Every way the benchmarks read an exported split gives the archives' pixels and labels: `with_format("numpy")`
batches and the card's fast path (plain iteration is checked in test_export.py and test_real_build.py); every image
encoding and the arrays that benchmarks.storage measures hold the archives' pixels."""

import io

import datasets
import numpy as np
import PIL.Image
import pytest

from benchmarks import storage
from benchmarks.figures import BATCH_SIZE
from tests.archives import archive_arrays
from tests.fixtures import SAMPLE_DIR
from tools.fast_path import as_arrays


def numpy_batches(split) -> tuple[np.ndarray, np.ndarray]:
    batches = list(split.with_format("numpy").iter(batch_size=BATCH_SIZE))
    return np.concatenate([b["image"] for b in batches]), np.concatenate([b["label"] for b in batches])


def check_every_reading_path(folder, archives, tmp_path):
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    arrays = as_arrays(loaded)
    for name, split in loaded.items():
        expected_images, expected_labels = archive_arrays(archives, name)
        images, labels = numpy_batches(split)
        assert images.dtype == np.uint8
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)
        in_memory = arrays[name][:]
        np.testing.assert_array_equal(in_memory["image"], expected_images)
        np.testing.assert_array_equal(in_memory["label"], expected_labels)


def test_the_sample_export_reads_as_its_archives(sample_export, tmp_path):
    check_every_reading_path(sample_export[1], SAMPLE_DIR, tmp_path)


@pytest.mark.real
@pytest.mark.slow
def test_the_official_export_reads_as_its_archives(official_export, official_dir, tmp_path):
    check_every_reading_path(official_export[1], official_dir, tmp_path)


@pytest.mark.parametrize("encoding", storage.ENCODINGS)
def test_each_png_encoding_the_storage_benchmark_measures_is_lossless(encoding):
    images, _ = archive_arrays(SAMPLE_DIR, "train")
    pngs = list(storage.ENCODINGS[encoding](images))
    assert len(pngs) == len(images)
    for png, expected in zip(pngs, images, strict=True):
        with PIL.Image.open(io.BytesIO(png)) as image:
            assert image.mode == "L"
            np.testing.assert_array_equal(np.asarray(image), expected)


def test_the_arrays_the_storage_benchmark_measures_are_the_pixels():
    images, labels = archive_arrays(SAMPLE_DIR, "train")
    arrays = storage.arrays_dataset(images, labels)
    np.testing.assert_array_equal(arrays.with_format("numpy", dtype=np.uint8)[:]["image"], images)
