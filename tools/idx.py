"""Writing IDX archives: the inverse of the readers in fashion_mnist.py, for the sample and the tests."""

import gzip
import struct

import numpy as np

from fashion_mnist import IMAGES_MAGIC, LABELS_MAGIC


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed IDX file holding a uint8 array of images (3-D) or labels (1-D)."""
    magic = {3: IMAGES_MAGIC, 1: LABELS_MAGIC}[array.ndim]
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + np.ascontiguousarray(array, np.uint8).tobytes()


def gzip_bytes(payload: bytes) -> bytes:
    """Deterministic gzip: no file name, no timestamp."""
    return gzip.compress(payload, compresslevel=9, mtime=0)
