"""The real end-to-end path: the official archives, served on 127.0.0.1, built through the download path."""

import hashlib
import json
import re

import datasets
import numpy as np
import pytest
from huggingface_hub import DatasetCard

import fashion_mnist as fm
from tests.archives import SPLIT_FILES, archive_arrays, dataset_arrays, hub_sizes
from tests.fixtures import REPO
from tools import card

SPLIT_SIZES = {"train": 60_000, "test": 10_000}


@pytest.fixture(scope="module")
def real_build(official_export):
    """The default config's builder, prepared from the loopback host, and the Hub folder exported from it."""
    builders, folder = official_export
    return builders["fashion_mnist"], folder


@pytest.fixture(scope="module")
def decoded(real_build):
    builder, _ = real_build
    return {split: dataset_arrays(builder.as_dataset(split=split)) for split in SPLIT_SIZES}


@pytest.mark.parametrize("split", SPLIT_SIZES)
def test_every_pixel_and_label_equals_the_archives(decoded, official_dir, split):
    images, labels = decoded[split]
    expected_images, expected_labels = archive_arrays(official_dir, split)
    assert len(labels) == SPLIT_SIZES[split]
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(images, expected_images)


@pytest.mark.parametrize("split", SPLIT_SIZES)
def test_classes_are_balanced(decoded, split):
    _, labels = decoded[split]
    assert np.bincount(labels, minlength=10).tolist() == [SPLIT_SIZES[split] // 10] * 10


def test_the_builder_checksums_are_the_published_ones(official_dir):
    published = dict(line.split()[::-1] for line in (official_dir / "SHA256SUMS").read_text().splitlines())
    for split in fm.OFFICIAL_SPLITS:
        for archive in (split.images, split.labels):
            data = (official_dir / archive.filename).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (archive.num_bytes, published[archive.filename])


def test_downloaded_files_are_the_archives(real_build, official_dir):
    builder, folder = real_build
    downloads = folder.parent / "cache" / "downloads"  # the download manager's folder in the build's cache
    cached = {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in downloads.iterdir() if p.suffix not in (".json", ".lock")
    }
    files = [name for pair in SPLIT_FILES.values() for name in pair]
    assert cached == {hashlib.sha256((official_dir / name).read_bytes()).hexdigest() for name in files}
    assert builder.info.download_size == sum((official_dir / name).stat().st_size for name in files)


def test_export_round_trip_on_datasets_5(real_build, decoded, tmp_path):
    builder, folder = real_build
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path))
    for split in SPLIT_SIZES:
        assert loaded[split].features == builder.info.features
        images, labels = dataset_arrays(loaded[split])
        np.testing.assert_array_equal(labels, decoded[split][1])
        np.testing.assert_array_equal(images, decoded[split][0])


def test_streaming_the_export(real_build, decoded):
    _, folder = real_build
    streamed = datasets.load_dataset(str(folder), split="test", streaming=True)
    labels = [row["label"] for row in streamed]
    assert labels == decoded["test"][1].tolist()


def test_the_arrays_config_of_the_export_is_the_archives(real_build, official_dir, tmp_path):
    _, folder = real_build
    loaded = datasets.load_dataset(str(folder), "arrays", cache_dir=str(tmp_path))
    for split in SPLIT_SIZES:
        assert loaded[split].features == fm.features(arrays=True)
        columns = loaded[split].with_format("numpy", dtype=np.uint8)[:]
        expected_images, expected_labels = archive_arrays(official_dir, split)
        assert columns["image"].shape == (SPLIT_SIZES[split], 28, 28)
        np.testing.assert_array_equal(columns["image"], expected_images)
        np.testing.assert_array_equal(columns["label"], expected_labels)


@pytest.mark.parametrize("config", ["fashion_mnist", "arrays"])
def test_each_config_downloads_fewer_bytes_than_the_archives(real_build, official_dir, config):
    _, folder = real_build
    parquet = sum(path.stat().st_size for path in (folder / config).glob("*.parquet"))
    archives = sum((official_dir / name).stat().st_size for pair in SPLIT_FILES.values() for name in pair)
    assert len(list((folder / config).glob("*.parquet"))) == 16
    assert parquet < archives
    # The card states both sizes in MB: "images zstd-compressed: A MB (B MB) for both splits, below the archives'
    # C MB", the default config's first, the arrays config's in parentheses.
    card = " ".join((REPO / "README.md").read_text().split())
    sizes = r"zstd-compressed: ([\d.]+) MB \(([\d.]+) MB\) for both splits, below the archives' ([\d.]+) MB"
    stated = re.search(sizes, card)
    assert stated is not None, "the card's sentence on the Parquet sizes"
    default_mb, arrays_mb, archives_mb = stated.groups()
    assert (default_mb if config == "fashion_mnist" else arrays_mb) == f"{parquet / 1e6:.1f}"
    assert archives_mb == f"{archives / 1e6:.1f}"


@pytest.mark.parametrize("config", ["fashion_mnist", "arrays"])
def test_the_benchmark_doc_states_the_bytes_this_export_writes(real_build, config):
    """docs/benchmark.md, Storage: `| `CONFIG/*.parquet` (train + test)... | **TOTAL** (TRAIN + TEST) |`."""
    _, folder = real_build
    split_bytes = {
        split: sum(p.stat().st_size for p in (folder / config).glob(f"{split}-*.parquet")) for split in SPLIT_SIZES
    }
    doc = (REPO / "docs" / "benchmark.md").read_text()
    row = re.search(
        rf"^\| `{config}/\*\.parquet` \(train \+ test\).*\*\*([\d,]+)\*\* \(([\d,]+) \+ ([\d,]+)\) \|$", doc, re.M
    )
    assert row is not None, f"the Storage row of {config}"
    total, train, test = (int(number.replace(",", "")) for number in row.groups())
    assert (total, train, test) == (sum(split_bytes.values()), split_bytes["train"], split_bytes["test"])


def test_dataset_infos_json_records_the_official_archives(real_build):
    """That the file is what a build records: tests/test_regenerate.py."""
    recorded = json.loads((REPO / "dataset_infos.json").read_text())
    assert list(recorded) == ["fashion_mnist", "arrays"]
    checksums = recorded["fashion_mnist"]["download_checksums"]
    assert {url.rsplit("/", 1)[1]: c["checksum"] for url, c in checksums.items()} == {
        archive.filename: archive.sha256 for split in fm.OFFICIAL_SPLITS for archive in (split.images, split.labels)
    }


def test_the_hub_card_is_the_repositorys_card_without_its_repository_only_parts(real_build):
    """That its YAML is what a build records: tests/test_regenerate.py."""
    _, folder = real_build
    assert (folder / "README.md").read_text() == card.hub_text((REPO / "README.md").read_text())
    infos = {info["config_name"]: info for info in DatasetCard.load(folder / "README.md").data["dataset_info"]}
    for config in ("fashion_mnist", "arrays"):
        assert {s["name"]: s["num_examples"] for s in infos[config]["splits"]} == SPLIT_SIZES


@pytest.mark.parametrize("config", ["fashion_mnist", "arrays"])
def test_the_cards_sizes_are_the_ones_the_hub_computes_from_the_parquet_files(real_build, config):
    """The dataset page shows sizes that the Hub recomputes from the Parquet footers: the card's YAML, in the
    repository and on the Hub, gives the same."""
    _, folder = real_build
    sizes = hub_sizes(folder, config)
    for card_path in (REPO / "README.md", folder / "README.md"):
        (info,) = [i for i in DatasetCard.load(card_path).data["dataset_info"] if i["config_name"] == config]
        assert (info["download_size"], info["dataset_size"]) == (sizes["download_size"], sizes["dataset_size"])
        assert {s["name"]: {k: s[k] for k in ("num_bytes", "num_examples")} for s in info["splits"]} == sizes["splits"]
