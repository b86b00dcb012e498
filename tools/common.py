"""What the tools, tests and examples share: the repository's paths, the official archives (their folder, read and
verified, and IDX files written as the readers of fashion_mnist.py read them, for dummy/ and the tests) and markdown
tables. The builder's constants (classes, archives, sizes) stay in fashion_mnist.py."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np

import fashion_mnist as fm

REPO = Path(__file__).resolve().parent.parent
# The archives' folder for the `real` tests and the tools' --data-dir default (tools.export downloads unless given one).
ARCHIVES_VARIABLE = "FASHION_MNIST_ARCHIVES"
DEFAULT_ARCHIVES = REPO.parent / "shared" / "fashion-mnist"
# Where tools.export writes the Hub-ready folder by default, and where tools.verify and the benchmarks look for it.
EXPORT_FOLDER = REPO / "build" / "hub"


def archives_dir() -> Path:
    """The official archives' folder: $FASHION_MNIST_ARCHIVES, else ../shared/fashion-mnist beside the repository."""
    return Path(os.environ.get(ARCHIVES_VARIABLE) or DEFAULT_ARCHIVES)


def load_official(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split name -> (images, labels), read from the verified official archives in `data_dir`."""
    splits = {}
    for split in fm.OFFICIAL_SPLITS:
        images_gz = fm.read_verified(split.images, (str(Path(data_dir) / split.images.filename),))
        labels_gz = fm.read_verified(split.labels, (str(Path(data_dir) / split.labels.filename),))
        splits[split.split] = fm.read_split(images_gz, labels_gz, split)
    return splits


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed IDX file holding a uint8 array of images (3-D) or labels (1-D)."""
    magic = {3: fm.IMAGES_MAGIC, 1: fm.LABELS_MAGIC}[array.ndim]
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + np.ascontiguousarray(array, np.uint8).tobytes()


def gzip_bytes(payload: bytes) -> bytes:
    """Deterministic gzip: no file name, no timestamp."""
    return gzip.compress(payload, compresslevel=9, mtime=0)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
