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


def hub_sizes(folder: Path, config: str) -> dict:
    """A config's sizes as the Hub's dataset viewer computes them from its Parquet footers (`config-parquet-and-info`,
    huggingface/dataset-viewer at f62009e0): download_size, the bytes of the files; per split, num_examples and
    num_bytes, the sums of the footers' rows and of the row groups' total_byte_size; dataset_size, their sum."""
    import pyarrow.parquet as pq

    files = sorted((Path(folder) / config).glob("*.parquet"))
    splits = {}
    for split in SPLIT_FILES:
        footers = [pq.ParquetFile(path).metadata for path in files if path.name.startswith(f"{split}-")]
        groups = [footer.row_group(i) for footer in footers for i in range(footer.num_row_groups)]
        splits[split] = {
            "num_bytes": sum(g.total_byte_size for g in groups),
            "num_examples": sum(g.num_rows for g in groups),
        }
    return {
        "download_size": sum(path.stat().st_size for path in files),
        "dataset_size": sum(split["num_bytes"] for split in splits.values()),
        "splits": splits,
    }
