"""Near-duplicates: the search against brute force, and its outputs against the official archives."""

import csv
import io

import numpy as np
import pytest

import fashion_mnist as fm
from tests.fixtures import REPO
from tools import near_duplicates as nd

DOC = REPO / "docs" / "near-duplicates.md"
SPLITS = [split.split for split in fm.OFFICIAL_SPLITS]


# Brute force, written here without the search's code: every pair's sum of absolute differences.


def brute_force_distances(a: np.ndarray, b: np.ndarray, block: int = 2048) -> np.ndarray:
    """(len(a), len(b)) matrix of sum |a[i] - b[j]| over pixels, in int64; b is taken `block` rows at a time, which
    keeps the differences in the CPU's cache (several times faster than all of b at once)."""
    a = a.reshape(len(a), -1).astype(np.int16)
    b = b.reshape(len(b), -1).astype(np.int16)
    distances = np.zeros((len(a), len(b)), np.int64)
    for start in range(0, len(b), block):
        for i, row in enumerate(a):
            distances[i, start : start + block] = np.abs(b[start : start + block] - row).sum(axis=1, dtype=np.int64)
    return distances


def brute_force_pairs(a: np.ndarray, b: np.ndarray | None, limit: int) -> set[tuple[int, int, int]]:
    distances = brute_force_distances(a, a if b is None else b)
    first, second = np.nonzero(distances <= limit)
    return {
        (int(i), int(j), int(distances[i, j])) for i, j in zip(first, second, strict=True) if b is not None or i < j
    }


def as_set(pairs: np.ndarray) -> set[tuple[int, int, int]]:
    return set(map(tuple, pairs.tolist()))


def look_alikes(rng, num_originals: int, copies: int, noise: int) -> np.ndarray:
    """Images like the dataset's (a light shape on a black background) and noisy copies of some of them,
    so that pairs fall on both sides of any radius up to `noise` / 2."""
    originals = rng.integers(0, 256, size=(num_originals, 28, 28)).astype(np.int16)
    originals[:, :, : rng.integers(0, 14)] = 0  # black margins of different widths
    picked = originals[rng.integers(0, num_originals, size=copies)]
    amplitudes = rng.integers(0, noise + 1, size=(copies, 1, 1))  # each copy its own noise: 0 to `noise`
    noisy = picked + np.round(rng.uniform(-1, 1, size=picked.shape) * amplitudes).astype(np.int16)
    images = np.concatenate([originals, noisy]).clip(0, 255).astype(np.uint8)
    return images[rng.permutation(len(images))]


# The search on arrays made here.


def test_square_root_bound_is_below_the_absolute_difference_for_every_pair_of_grey_levels():
    x, y = np.meshgrid(np.arange(256.0), np.arange(256.0))
    assert np.all((np.sqrt(x) - np.sqrt(y)) ** 2 <= np.abs(x - y) + 1e-9)


def test_float32_rounding_of_the_products_stays_far_inside_the_margin():
    rng = np.random.default_rng(1)
    images = np.concatenate([np.full((2, 784), 255), rng.integers(0, 256, size=(200, 784))]).astype(np.uint8)
    roots = np.sqrt(images, dtype=np.float32)
    exact = np.sqrt(images.astype(np.float64)) @ np.sqrt(images.astype(np.float64)).T
    error = np.abs((roots @ roots.T).astype(np.float64) - exact).max()
    assert error < nd.MARGIN / 2 / 10


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("radius", [2, 3.5, 8])
def test_close_pairs_finds_exactly_the_pairs_that_brute_force_finds(monkeypatch, seed, radius):
    # Small blocks, so that the tiling, the skipped blocks and the diagonal blocks are all exercised.
    monkeypatch.setattr(nd, "TILE", 16)
    monkeypatch.setattr(nd, "EXACT_CHUNK", 37)
    rng = np.random.default_rng(seed)
    a = look_alikes(rng, 40, 60, noise=20)
    b = np.concatenate([look_alikes(rng, 20, 30, noise=20), a[:25] ^ rng.integers(0, 4, (25, 28, 28), np.uint8)])
    limit = nd.limit_of(radius)
    within = nd.close_pairs(a, None, radius)
    across = nd.close_pairs(a, b, radius)
    assert as_set(within) == brute_force_pairs(a, None, limit)
    assert as_set(across) == brute_force_pairs(a, b, limit)
    assert len(within) > 0 and len(across) > 0, "the test data should hold pairs within the radius"
    assert within[:, :2].tolist() == sorted(within[:, :2].tolist())


def test_close_pairs_of_nothing_is_empty():
    images = np.zeros((3, 28, 28), np.uint8)
    assert len(nd.close_pairs(images[:0])) == 0
    assert len(nd.close_pairs(images[:0], images)) == 0
    # Far apart: nothing within the radius, and all of it skipped by the sums.
    assert len(nd.close_pairs(images, np.full((2, 28, 28), 255, np.uint8))) == 0
    assert as_set(nd.close_pairs(images)) == {(0, 1, 0), (0, 2, 0), (1, 2, 0)}


def test_nearest_distances_take_the_closest_twin_on_the_sides_asked():
    pairs = np.array([[0, 1, 50], [0, 3, 20], [0, 4, 20], [2, 3, 7]])
    assert nd.nearest_distances(pairs, 5, symmetric=False).tolist() == [20, -1, 7, -1, -1]
    assert nd.nearest_distances(pairs, 5, symmetric=True).tolist() == [20, 50, 7, 7, 20]


def test_nearest_matches_brute_force():
    rng = np.random.default_rng(7)
    a = look_alikes(rng, 30, 50, noise=20)
    # Copies of a with their low bits flipped: 0 to 5 bits, so some are within the radius and some beyond.
    flips = rng.integers(0, 256, size=a.shape, dtype=np.uint8) % (2 ** rng.integers(0, 6, size=(len(a), 1, 1)))
    b = np.concatenate([look_alikes(rng, 30, 50, noise=20), a ^ flips.astype(np.uint8)])
    for symmetric, other in [(True, a), (False, b)]:
        distances = brute_force_distances(a, other)
        if symmetric:
            np.fill_diagonal(distances, np.iinfo(np.int64).max)
        best = nd.nearest_distances(nd.close_pairs(a, None if symmetric else b), len(a), symmetric)
        within = distances.min(axis=1) <= nd.limit_of(nd.RADIUS)
        assert within.any() and not within.all()
        assert best[within].tolist() == distances.min(axis=1)[within].tolist()
        assert (best[~within] == -1).all()


def test_counts_count_images_pairs_and_label_disagreements():
    pairs = np.array([[0, 2, 784], [1, 2, 784 * 2], [1, 3, 784 * 4]])
    labels = np.array([5, 5, 6, 5])
    assert nd.counts(pairs, labels, labels, symmetric=True, grey_levels=2) == (3, 2, 2)
    assert nd.counts(pairs, labels, labels, symmetric=False, grey_levels=2) == (2, 2, 2)
    assert nd.counts(pairs, labels, labels, symmetric=False, grey_levels=1.99) == (1, 1, 1)


def test_histogram_bins_are_right_closed_and_count_the_images_without_a_near_twin():
    # Test image 0 at exactly 0.5 grey levels from train 1, image 1 at 0.5 + 1/784, image 2 with nothing.
    found = {comparison: np.empty((0, 3), np.int64) for comparison in nd.COMPARISONS}
    found["test", "train"] = np.array([[0, 1, 392], [1, 1, 393]])
    splits = {"test": (None, np.zeros(3, np.uint8)), "train": (None, np.zeros(2, np.uint8))}
    rows = [line.split(" | ") for line in nd.histogram_table(found, splits).splitlines()[2:]]
    column = {row[0].strip("| "): int(row[1]) for row in rows}
    assert (column["0"], column["0 to 0.5"], column["0.5 to 1"], column[f"> {nd.RADIUS}"]) == (0, 1, 1, 1)


def test_captions_mark_each_pair_within_or_beyond_the_criterion():
    images, labels = np.zeros((2, 28, 28), np.uint8), np.array([0, 1], np.uint8)
    splits = {"test": (images, labels), "train": (images, labels)}
    limit = nd.limit_of(nd.CRITERION)
    shown, within = nd.pair_cell(splits, "test", 0, "train", 1, limit)
    assert within == ["test 0  train 1", "T - shirt / top / Trouser", f"3.00 grey levels: within {nd.CRITERION}"]
    assert len(shown) == 2
    assert nd.pair_cell(splits, "test", 0, "test", 0, limit + 1)[1][1:] == [
        "T - shirt / top",
        "3.00 grey levels: beyond 3",
    ]


# The official archives: the search of the test session (tests/fixtures.py), against the tests' own reading.


def _subset(rng, num_images: int, size: int, involved) -> np.ndarray:
    """Sorted indices: the images in `involved` and a random sample, `size` in all."""
    involved = np.unique(np.asarray(involved, np.int64))
    rest = np.setdiff1d(np.arange(num_images), involved)
    return np.sort(np.concatenate([involved, rng.choice(rest, size - len(involved), replace=False)]))


def _restricted(pairs: np.ndarray, first_kept: np.ndarray, second_kept: np.ndarray) -> set:
    """The pairs with both images in the subsets, renumbered as positions in them."""
    first_position = {int(index): k for k, index in enumerate(first_kept)}
    second_position = {int(index): k for k, index in enumerate(second_kept)}
    return {
        (first_position[i], second_position[j], d)
        for i, j, d in as_set(pairs)
        if i in first_position and j in second_position
    }


@pytest.mark.real
def test_search_on_the_archives_equals_brute_force_on_subsets(official_arrays, near_duplicate_search):
    rng = np.random.default_rng(0)
    (train, _), (test, _) = official_arrays["train"], official_arrays["test"]
    limit = nd.limit_of(nd.RADIUS)
    # Every image of a pair within 4 grey levels goes into the subsets.
    across, within_test, within_train = (nd.within(near_duplicate_search[c], 4) for c in nd.COMPARISONS)
    test_kept = _subset(rng, len(test), 800, [*across[:, 0], *within_test[:, 0]])
    train_kept = _subset(rng, len(train), 3000, [*across[:, 1], *within_train[:, 0]])
    expected = {
        ("test", "train"): brute_force_pairs(test[test_kept], train[train_kept], limit),
        ("test", "test"): brute_force_pairs(test[test_kept], None, limit),
        ("train", "train"): brute_force_pairs(train[train_kept], None, limit),
    }
    kept = {"test": test_kept, "train": train_kept}
    for (split, twin), pairs in near_duplicate_search.items():
        assert _restricted(pairs, kept[split], kept[twin]) == expected[split, twin], (split, twin)
        assert len(expected[split, twin]) > 10, "the subsets should hold pairs within the radius"


@pytest.mark.real
def test_nearest_training_distance_equals_brute_force_for_test_images(official_arrays, near_duplicate_search):
    rng = np.random.default_rng(1)
    (train, _), (test, _) = official_arrays["train"], official_arrays["test"]
    across = near_duplicate_search["test", "train"]
    chosen = _subset(rng, len(test), 100, nd.within(across, 5)[:, 0])
    best = nd.nearest_distances(across, len(test), symmetric=False)
    distances = brute_force_distances(test[chosen], train)
    within = distances.min(axis=1) <= nd.limit_of(nd.RADIUS)
    assert within.sum() >= 60
    assert best[chosen][within].tolist() == distances.min(axis=1)[within].tolist()
    assert (best[chosen][~within] == -1).all()


@pytest.mark.real
def test_the_picture_marks_every_pair_beyond_the_criterion_wherever_it_shows_one(
    official_arrays, near_duplicate_search
):
    sections = dict(nd.picture_sections(official_arrays, near_duplicate_search))
    distances = {}
    for title, cells in sections.items():
        for _, caption in cells:
            distance, side = caption[-1].split(" grey levels: ")
            assert side == ("within 3" if float(distance) <= nd.CRITERION else "beyond 3"), (title, caption)
            distances.setdefault(title.split(":")[0], []).append(float(distance))
    # The pairs within one split shown beyond the criterion (test: 3.73 to 4.80) are marked too.
    assert sum(d > nd.CRITERION for d in distances["within test"]) == 4
    assert len(distances["test against train"]) == 15 + nd.SHOWN


def _read_pairs_file() -> list[dict]:
    return list(csv.DictReader(io.StringIO(nd.PAIRS_FILE.read_text(encoding="utf-8"))))


@pytest.mark.real
def test_pairs_file_is_every_pair_within_the_criterion(official_arrays, near_duplicate_search):
    rows = _read_pairs_file()
    assert list(rows[0]) == list(nd.CSV_HEADER)
    # Each row, checked on the arrays directly.
    for row in rows:
        images, labels = official_arrays[row["split"]]
        twin_images, twin_labels = official_arrays[row["twin_split"]]
        i, j = int(row["index"]), int(row["twin_index"])
        mean_abs_diff = np.abs(images[i].astype(int) - twin_images[j].astype(int)).mean()
        assert mean_abs_diff <= nd.CRITERION
        assert float(row["mean_abs_diff"]) == round(mean_abs_diff, 3)
        assert (int(row["label"]), int(row["twin_label"])) == (labels[i], twin_labels[j])
    expected = set()
    for (split, twin), pairs in near_duplicate_search.items():
        expected |= {(split, i, twin, j) for i, j, _ in nd.within(pairs, nd.CRITERION).tolist()}
    assert {(r["split"], int(r["index"]), r["twin_split"], int(r["twin_index"])) for r in rows} == expected
    assert len(rows) == len(expected)


@pytest.mark.real
def test_criterion_counts_recomputed_by_plain_python(official_arrays, near_duplicate_search):
    """The card's test-against-train row, recounted from the pairs file without the module's summaries."""
    rows = [r for r in _read_pairs_file() if (r["split"], r["twin_split"]) == ("test", "train")]
    images, pairs = {int(r["index"]) for r in rows}, len(rows)
    disagreements = sum(r["label"] != r["twin_label"] for r in rows)
    card = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"| test against train | 10,000 | {len(images)} | {pairs} | {disagreements} |" in card
