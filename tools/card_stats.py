"""The dataset card's generated tables, from the official archives, each under its heading in README.md: the archives,
the classes with their examples per split, pixel statistics and duplicate images. tools.regenerate puts them in the
card; tests/test_card.py recomputes their numbers without this module."""

import collections
import hashlib
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np

import fashion_mnist as fm
from tools import common

# The labels as the official README describes them: CLASS_NAMES but for the first one's spelling.
OFFICIAL_DESCRIPTIONS = ("T-shirt/top", *fm.CLASS_NAMES[1:])
# The headings under which the card holds each generated table.
ARCHIVES_HEADING = "Source archives"
CLASSES_HEADING = "Classes"
PIXELS_HEADING = "Pixel statistics"
DUPLICATES_HEADING = "Duplicate images"

STAT_DECIMALS = 4

# The mean and population standard deviation (divisor N) of all the pixels of a split, on 0-255, as Decimals.
PixelStats = collections.namedtuple("PixelStats", "num_images num_pixels mean std")
# Exact copies: `images_with_copy` images have an identical twin; they form `groups` sets of identical images,
# `conflicting_groups` of which carry more than one label.
Duplicates = collections.namedtuple("Duplicates", "num_images images_with_copy groups conflicting_groups")


# Statistics: pure functions of the arrays.


def class_counts(labels: np.ndarray) -> list[int]:
    """Examples of each class 0-9."""
    return np.bincount(labels, minlength=len(fm.CLASS_NAMES)).tolist()


def pixel_stats(images: np.ndarray) -> PixelStats:
    """Exact mean and population standard deviation of all pixel values, from their histogram."""
    histogram = np.bincount(np.ravel(images), minlength=256)
    values = np.arange(256)
    n, total, squares = int(histogram.sum()), int(histogram @ values), int(histogram @ values**2)
    with localcontext() as context:
        context.prec = 40
        mean = Decimal(total) / n
        # Population variance: E[x^2] - E[x]^2 = (n * sum(x^2) - sum(x)^2) / n^2, exact in integers.
        std = Decimal(n * squares - total * total).sqrt() / n
    return PixelStats(len(images), n, mean, std)


def _groups(images: np.ndarray, labels: np.ndarray):
    """Each image's group of identical images, each group's size and whether its labels differ."""
    rows = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1)
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()  # each image's bytes as one comparable scalar
    _, group, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    distinct = np.unique(np.column_stack([group, labels]), axis=0)  # each (group, label) once
    return group, sizes, np.bincount(distinct[:, 0], minlength=len(sizes)) > 1


def duplicates_within(images: np.ndarray, labels: np.ndarray) -> Duplicates:
    """Identical images inside one split."""
    _, sizes, conflicting = _groups(images, labels)
    repeated = sizes > 1
    return Duplicates(len(images), int(sizes[repeated].sum()), int(repeated.sum()), int(conflicting.sum()))


def duplicates_across(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> Duplicates:
    """Test images that also occur in the training split: `images_with_copy` counts those test images, `groups` the
    distinct images in both splits, `conflicting_groups` those whose copies (in either split) carry several labels."""
    group, _, conflicting = _groups(np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]))
    train_groups, test_groups = group[: len(train[0])], group[len(train[0]) :]
    shared = np.intersect1d(train_groups, test_groups)
    copied = int(np.isin(test_groups, shared).sum())
    return Duplicates(len(test_groups), copied, len(shared), int(conflicting[shared].sum()))


# Markdown.


def archives_table(data_dir: Path) -> str:
    """File name, bytes, SHA-256 and MD5 of each official archive in `data_dir`, in split order."""
    rows = []
    for archive in (archive for split in fm.OFFICIAL_SPLITS for archive in (split.images, split.labels)):
        data = (Path(data_dir) / archive.filename).read_bytes()
        sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
        rows.append([f"`{archive.filename}`", f"{len(data):,}", f"`{sha256}`", f"`{md5}`"])
    return common.markdown_table(["file", "bytes", "SHA-256", "MD5"], rows)


def classes_table(counts: dict[str, list[int]]) -> str:
    """Each class: its label, `ClassLabel` name, official description and examples per split; then the totals."""
    splits = list(counts)
    rows = [
        [label, f"`{name}`", description, *(f"{counts[split][label]:,}" for split in splits)]
        for label, (name, description) in enumerate(zip(fm.CLASS_NAMES, OFFICIAL_DESCRIPTIONS, strict=True))
    ]
    rows.append(["", "total", "", *(f"{sum(counts[split]):,}" for split in splits)])
    return common.markdown_table(["label", "`ClassLabel` name", "official description", *splits], rows)


def pixels_table(stats: dict[str, PixelStats]) -> str:
    rows = [
        [split, f"{s.num_images:,}", f"{s.num_pixels:,}"]
        + [f"{value:.{STAT_DECIMALS}f}" for value in (s.mean, s.std, s.mean / 255, s.std / 255)]
        for split, s in stats.items()
    ]
    header = ["split", "images", "pixels", "mean (0-255)", "std (0-255)", "mean (0-1)", "std (0-1)"]
    return common.markdown_table(header, rows)


def duplicates_table(within: dict[str, Duplicates], across: Duplicates) -> str:
    named = [*((f"within {split}", d) for split, d in within.items()), ("test against train", across)]
    rows = [[name, *(f"{n:,}" for n in d)] for name, d in named]
    header = ["images", "images with an identical copy", "duplicate groups", "groups with conflicting labels"]
    return common.markdown_table(["comparison", *header], rows)


def card_tables(data_dir: Path, splits: dict) -> dict[str, str]:
    """Heading -> markdown table, for every generated table of the card, from the archives in `data_dir` and their
    `splits` (common.load_official)."""
    return {
        ARCHIVES_HEADING: archives_table(data_dir),
        CLASSES_HEADING: classes_table({name: class_counts(labels) for name, (_, labels) in splits.items()}),
        PIXELS_HEADING: pixels_table({name: pixel_stats(images) for name, (images, _) in splits.items()}),
        DUPLICATES_HEADING: duplicates_table(
            {name: duplicates_within(images, labels) for name, (images, labels) in splits.items()},
            duplicates_across(splits["train"], splits["test"]),
        ),
    }
