"""The builder on the bundled sample archives: features, counts, order, pixels, streaming, sharding."""

import shutil

import datasets
import numpy as np
import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays, dataset_arrays
from tests.fixtures import CLASS_NAMES, SAMPLE_DIR


@pytest.fixture(scope="module")
def sample_builder(tmp_path_factory):
    builder = fm.FashionMnist(config_name="sample", cache_dir=str(tmp_path_factory.mktemp("cache")))
    builder.download_and_prepare()
    return builder


def test_info_keeps_the_drop_in_features(sample_builder):
    info = sample_builder.info
    assert info.features == datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=CLASS_NAMES),
        }
    )
    assert (info.supervised_keys.input, info.supervised_keys.output) == ("image", "label")
    assert str(info.version) == "1.0.0"
    assert info.license == "MIT"
    assert "1708.07747" in info.citation
    assert fm.FashionMnist.DEFAULT_CONFIG_NAME == "fashion_mnist"


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_example_equals_the_archives_in_order(sample_builder, split):
    dataset = sample_builder.as_dataset(split=split)
    expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
    assert dataset.num_rows == len(expected_labels) == {"train": 60, "test": 40}[split]
    images, labels = dataset_arrays(dataset)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    first = dataset[0]["image"]
    assert (first.format, first.mode, first.size) == ("PNG", "L", (28, 28))


def test_streaming_yields_the_same_examples(sample_builder):
    streamed = sample_builder.as_streaming_dataset(split="train")
    rows = list(streamed)
    expected_images, expected_labels = archive_arrays(SAMPLE_DIR, "train")
    assert [row["label"] for row in rows] == expected_labels.tolist()
    np.testing.assert_array_equal(np.stack([np.asarray(row["image"]) for row in rows]), expected_images)


def test_shards_split_across_processes_keep_the_order(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "SHARD_SIZE", 16)  # 4 train shards, 3 test shards
    builder = fm.FashionMnist(config_name="sample", cache_dir=str(tmp_path))
    builder.download_and_prepare(num_proc=2)
    for split in ("train", "test"):
        dataset = builder.as_dataset(split=split)
        assert len(dataset.cache_files) > 1, "the split should have been written by several jobs"
        images, labels = dataset_arrays(dataset)
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)


def test_streaming_shards_cover_the_split_once(monkeypatch):
    monkeypatch.setattr(fm, "SHARD_SIZE", 16)
    builder = fm.FashionMnist(config_name="sample")
    streamed = builder.as_streaming_dataset(split="train")
    assert streamed.num_shards == 4
    assert [row["label"] for row in streamed] == archive_arrays(SAMPLE_DIR, "train")[1].tolist()


def test_data_dir_is_read_instead_of_downloading(tmp_path):
    data_dir = tmp_path / "archives"
    shutil.copytree(SAMPLE_DIR, data_dir)
    builder = fm.FashionMnist(config_name="sample", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    assert builder.as_dataset(split="test")["label"][:] == archive_arrays(SAMPLE_DIR, "test")[1].tolist()


def test_data_dir_without_an_archive_lists_what_it_needs(tmp_path):
    shutil.copytree(SAMPLE_DIR, tmp_path / "archives")
    (tmp_path / "archives" / "t10k-labels-idx1-ubyte.gz").unlink()
    builder = fm.FashionMnist(config_name="sample", data_dir=str(tmp_path / "archives"), cache_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"has no t10k-labels-idx1-ubyte\.gz") as error:
        builder.download_and_prepare()
    for split in fm.SAMPLE_SPLITS:
        assert split.images.filename in str(error.value)
        assert split.labels.filename in str(error.value)


def test_download_path_fetches_from_the_server(tmp_path, sample_server):
    builder = fm.FashionMnist(config_name="sample", base_urls=(sample_server,), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.as_dataset(split="train").num_rows == 60
    assert builder.info.download_size == sum(
        archive.num_bytes for split in fm.SAMPLE_SPLITS for archive in (split.images, split.labels)
    )


def test_checksums_are_verified_whatever_the_verification_mode(tmp_path):
    data_dir = tmp_path / "archives"
    shutil.copytree(SAMPLE_DIR, data_dir)
    labels = data_dir / "train-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[-5] ^= 0xFF  # in the gzip trailer's CRC: the archive still has its size
    labels.write_bytes(data)
    builder = fm.FashionMnist(config_name="sample", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(fm.ArchiveError, match=r"train-labels-idx1-ubyte\.gz: SHA-256 mismatch"):
        builder.download_and_prepare(verification_mode="no_checks")


def test_the_arrays_config_gives_uint8_arrays_in_the_archives_order(tmp_path):
    assert [config.name for config in fm.FashionMnist.BUILDER_CONFIGS] == ["fashion_mnist", "arrays", "sample"]
    builder = fm.FashionMnist(config_name="sample", arrays=True, cache_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.info.features == datasets.Features(
        {"image": datasets.Array2D(shape=(28, 28), dtype="uint8"), "label": datasets.ClassLabel(names=fm.CLASS_NAMES)}
    )
    for split in ("train", "test"):
        columns = builder.as_dataset(split=split).with_format("numpy", dtype=np.uint8)[:]
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        assert columns["image"].dtype == np.uint8
        np.testing.assert_array_equal(columns["image"], expected_images)
        np.testing.assert_array_equal(columns["label"], expected_labels)
    streamed = list(builder.as_streaming_dataset(split="test"))
    np.testing.assert_array_equal(np.array([row["image"] for row in streamed]), archive_arrays(SAMPLE_DIR, "test")[0])
