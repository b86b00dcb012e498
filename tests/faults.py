"""Helpers for the fault tests: the sample archives as bytes, checksums declared for altered archives,
and the checks that a failed build left nothing behind that looks finished."""

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays, dataset_arrays
from tests.fixtures import SAMPLE_DIR

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


def sample_files() -> dict[str, bytes]:
    """File name -> bytes of the four bundled sample archives."""
    return {path.name: path.read_bytes() for path in sorted(SAMPLE_DIR.glob("*.gz"))}


def declared_splits(files: dict[str, bytes], base=fm.SAMPLE_SPLITS) -> tuple:
    """`base` with the size and SHA-256 of every archive taken from `files`: a configuration under which
    altered archives pass verification, so that the strict readers are what must catch them."""

    def archive(declared: fm.Archive) -> fm.Archive:
        data = files[declared.filename]
        return fm.Archive(declared.filename, len(data), hashlib.sha256(data).hexdigest())

    return tuple(
        dataclasses.replace(split, images=archive(split.images), labels=archive(split.labels)) for split in base
    )


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def finished_infos(cache_dir: Path) -> list[Path]:
    """`dataset_info.json` files of finished datasets: any outside an `.incomplete` folder."""
    return [
        path
        for path in Path(cache_dir).rglob("dataset_info.json")
        if not any(part.endswith(".incomplete") for part in path.relative_to(cache_dir).parts)
    ]


def assert_no_finished_dataset(cache_dir: Path, **builder_kwargs) -> None:
    """A fresh builder on `cache_dir` finds nothing prepared, and no folder holds a finished dataset."""
    builder = fm.FashionMnist(cache_dir=str(cache_dir), **builder_kwargs)
    with pytest.raises(FileNotFoundError, match="could not find data"):
        builder.as_dataset()
    assert finished_infos(cache_dir) == []


def assert_sample_rows(builder) -> None:
    """Every split of a prepared builder holds exactly the sample archives' examples, in order."""
    for split in ("train", "test"):
        images, labels = dataset_arrays(builder.as_dataset(split=split))
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(images, expected_images)
