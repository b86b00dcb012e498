"""Independent reading of IDX archives for the tests: plain gzip and numpy, none of the builder's code."""

import gzip
from pathlib import Path

import numpy as np

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def archive_arrays(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_file, labels_file = SPLIT_FILES[split]
    images = np.frombuffer(gzip.decompress((folder / images_file).read_bytes()), np.uint8, offset=16)
    labels = np.frombuffer(gzip.decompress((folder / labels_file).read_bytes()), np.uint8, offset=8)
    return images.reshape(-1, 28, 28), labels


def dataset_arrays(split) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image of a `datasets` split (PIL, through its Image feature) and its labels."""
    images = np.stack([np.asarray(image) for image in split["image"]])
    return images, np.asarray(split["label"], dtype=np.uint8)
