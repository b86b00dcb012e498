"""The training fast path: decode the PNG images once into a uint8 column that `datasets` caches.

Reading the `image` column decodes every PNG again, every epoch: Pillow's decoding plus the per-example
work of `datasets`. `as_arrays` decodes them once, with a batched `map`, into an `Array2D((28, 28), "uint8")`
column. `datasets` writes that column to its cache beside the dataset and reuses it on the next run (the
same function on the same data has the same fingerprint), and a slice of it is a uint8 array.

The card's usage section shows the same code for users to copy: tests/test_fast_path.py checks this
module, tests/test_card.py runs the card's copy.
"""

import numpy as np
from datasets import Array2D, Dataset

IMAGE_ARRAY = Array2D(shape=(28, 28), dtype="uint8")


def decode_images(batch: dict) -> dict:
    """Batched `map` function: the batch's images (PIL) as one uint8 array of shape (n, 28, 28)."""
    return {"image": np.array([np.asarray(image) for image in batch["image"]], dtype=np.uint8)}


def as_arrays(dataset, num_proc=None):
    """`dataset` (a Fashion-MNIST `Dataset` or `DatasetDict`) with its images decoded once into a cached
    uint8 column, formatted as numpy: `arrays[i:j]` is `{"image": uint8 (n, 28, 28), "label": uint8 (n,)}`.

    `dtype=np.uint8` keeps the images as they are stored; without it the numpy formatter of `datasets`
    casts every integer column to int64, eight times the bytes. The labels (0-9) come as uint8 too.
    """
    first = dataset if isinstance(dataset, Dataset) else next(iter(dataset.values()))
    features = first.features.copy()
    features["image"] = IMAGE_ARRAY
    arrays = dataset.map(decode_images, batched=True, features=features, num_proc=num_proc)
    return arrays.with_format("numpy", dtype=np.uint8)
