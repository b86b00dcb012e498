"""The training fast path: decode the PNG images once into a uint8 column that `datasets` caches.

Reading the `image` column decodes every PNG again, every epoch. `as_arrays` decodes them once, with a batched `map`,
into an `Array2D((28, 28), "uint8")` column; `datasets` caches it beside the dataset and reuses it on the next run
(same function, same data: same fingerprint). docs/training.md shows the same code for users to copy:
tests/test_fast_path.py checks this module, tests/test_card.py runs the doc's copy."""

import numpy as np
from datasets import Array2D, Dataset, Features


def decode_images(batch: dict) -> dict:
    """Batched `map` function: the batch's images (PIL) as one uint8 array of shape (n, 28, 28)."""
    return {"image": np.array([np.asarray(image) for image in batch["image"]], dtype=np.uint8)}


def as_arrays(dataset, num_proc=None):
    """`dataset` (a `Dataset` or `DatasetDict`) with its images decoded once into a cached uint8 column, formatted as
    numpy: `arrays[i:j]` is `{"image": uint8 (n, 28, 28), "label": uint8 (n,)}`. `dtype=np.uint8` keeps the images as
    stored; without it the numpy formatter of `datasets` casts every integer column to int64, eight times the bytes."""
    first = dataset if isinstance(dataset, Dataset) else next(iter(dataset.values()))
    features = Features({**first.features, "image": Array2D(shape=(28, 28), dtype="uint8")})
    arrays = dataset.map(decode_images, batched=True, features=features, num_proc=num_proc)
    return arrays.with_format("numpy", dtype=np.uint8)
