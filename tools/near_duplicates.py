"""Near-duplicates and train/test leakage: every image's nearest other image, by an exact search.

Distance: the mean absolute difference of two images' grey levels (0-255) over their 784 pixels. The search finds,
exactly, every pair within RADIUS grey levels inside each split and between a test and a training image. From it,
tools.regenerate writes the tables of the distribution of each image's nearest distance and of the counts at several
thresholds, near_duplicates.csv (every pair within CRITERION) and images/near_duplicates.png (the closest pairs).
docs/near-duplicates.md explains the method and the numbers.
"""

import csv
import dataclasses
import io
import itertools

import numpy as np

import fashion_mnist as fm
from tools import common, pictures

PAIRS_FILE = common.REPO / "near_duplicates.csv"
PICTURE = common.REPO / "images" / "near_duplicates.png"

PIXELS = fm.IMAGE_SIDE * fm.IMAGE_SIDE
# The search finds every pair within this mean absolute difference (grey levels), and only those.
RADIUS = 8
# Two images are near-duplicates when their mean absolute difference is at most this many grey levels.
# Chosen from the measured distribution: see docs/near-duplicates.md.
CRITERION = 3
THRESHOLDS = (1, 2, 3, 4, 5, 6, 8)
HISTOGRAM_STEP = 0.5
# (split, twin's split): test images against train, then each split against itself.
COMPARISONS = (("test", "train"), ("test", "test"), ("train", "train"))
COMPARISON_NAMES = [f"within {split}" if split == twin else f"{split} against {twin}" for split, twin in COMPARISONS]
CSV_HEADER = ("split", "index", "label", "twin_split", "twin_index", "twin_label", "mean_abs_diff")

# Rows and columns of one block of the matrix product (float32 blocks of 4 MiB).
TILE = 1024
# Side of the squares of pixels whose sums give a cheap lower bound of the distance (a divisor of 28).
BLOCK = 4
# Candidate pairs whose distance is computed exactly at once (two uint8 blocks of 12 MiB).
EXACT_CHUNK = 16384
# The float32 product <sqrt(a), sqrt(b)> of two images is off by at most about
# 786 * 2**-24 * 784 * 255 < 10 (the usual bound for a sum of 784 rounded products, each at most 255);
# candidates are kept with 64 to spare: a wider margin costs a few more exact checks, never a missed pair.
MARGIN = 64.0

# The picture: pairs side by side, SCALE times the archive's pixels; beside the pairs within the criterion, the SHOWN
# closest test/train pairs beyond it and the SHOWN closest pairs within each split.
SHOWN = 5
SCALE = 3
PICTURE_COLUMNS = 5
SPLITS = ("test", "train")


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Pairs of images (first[k] of one split, second[k] of the other or the same split) with
    `distance[k]`, the exact sum of absolute differences of their pixel values (divide by PIXELS for
    grey levels). Sorted by (first, second); within one split first < second."""

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def within(self, limit: int) -> "Pairs":
        """The pairs whose sum of absolute differences is at most `limit`."""
        keep = self.distance <= limit
        return Pairs(self.first[keep], self.second[keep], self.distance[keep])


def limit_of(grey_levels: float) -> int:
    """The largest sum of absolute differences whose mean over the pixels is at most `grey_levels`."""
    return int(np.floor(grey_levels * PIXELS + 1e-9))


# The search: pure functions of uint8 arrays of shape (n, 28, 28).


def abs_diff_sums(a: np.ndarray, b: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Exact sum of |a[first[k]] - b[second[k]]| over the columns, for each k (int64); a and b are rows of pixels or
    of block sums."""
    sums = np.empty(len(first), np.int64)
    for start in range(0, len(first), EXACT_CHUNK):
        x = a[first[start : start + EXACT_CHUNK]]
        y = b[second[start : start + EXACT_CHUNK]]
        sums[start : start + EXACT_CHUNK] = (np.maximum(x, y) - np.minimum(x, y)).sum(axis=1, dtype=np.int64)
    return sums


def block_sums(rows: np.ndarray) -> np.ndarray:
    """Each image's sums over BLOCK x BLOCK squares of pixels, as int16 rows."""
    side = fm.IMAGE_SIDE // BLOCK
    squares = rows.reshape(len(rows), side, BLOCK, side, BLOCK)
    return squares.sum(axis=(2, 4), dtype=np.int16).reshape(len(rows), side * side)


def close_pairs(a: np.ndarray, b: np.ndarray | None = None, radius: float = RADIUS) -> Pairs:
    """Every pair (a[i], b[j]) whose mean absolute difference is at most `radius` grey levels, exactly.
    With b None, the pairs within a (i < j).

    Three lower bounds of the sum of absolute differences, sum |a - b|, rule out most pairs cheaply:
    - |sum(a) - sum(b)|: with the images sorted by their sums, whole blocks of pairs lie too far apart;
    - sum(a) + sum(b) - 2 <sqrt(a), sqrt(b)>, since (sqrt(x) - sqrt(y))**2 <= |x - y| for grey levels
      x, y >= 0: a float32 matrix product computes it for a block of pairs at once (kept within the
      radius plus the rounding MARGIN);
    - the sum of |differences of block sums| (BLOCK x BLOCK squares, 49 numbers per image).
    Only the pairs that all three leave within the radius have their distance computed, exactly, in integers."""
    same = b is None
    a = np.ascontiguousarray(a, dtype=np.uint8).reshape(len(a), PIXELS)
    b = a if same else np.ascontiguousarray(b, dtype=np.uint8).reshape(len(b), PIXELS)
    limit = limit_of(radius)
    a_blocks, b_blocks = block_sums(a), block_sums(b)
    a_sums, b_sums = a.sum(axis=1, dtype=np.int64), b.sum(axis=1, dtype=np.int64)
    a_order, b_order = np.argsort(a_sums, kind="stable"), np.argsort(b_sums, kind="stable")
    a_sums, b_sums = a_sums[a_order], b_sums[b_order]
    # bound <= limit + MARGIN  <=>  <sqrt(a), sqrt(b)> - sum(b) / 2 >= (sum(a) - limit - MARGIN) / 2;
    # halves of integers below 2**24 are exact in float32.
    a_needed = ((a_sums - limit - MARGIN) / 2).astype(np.float32)
    b_halves = (b_sums / 2).astype(np.float32)
    found = [np.empty((3, 0), np.int64)]
    for i in range(0, len(a), TILE):
        a_rows = slice(i, i + TILE)
        a_roots = np.sqrt(a[a_order[a_rows]], dtype=np.float32)
        candidates = [np.empty((2, 0), np.int64)]
        for j in range(i if same else 0, len(b), TILE):
            b_rows = slice(j, j + TILE)
            if b_sums[b_rows][0] > a_sums[a_rows][-1] + limit or b_sums[b_rows][-1] < a_sums[a_rows][0] - limit:
                continue
            products = a_roots @ np.sqrt(b[b_order[b_rows]], dtype=np.float32).T
            products -= b_halves[None, b_rows]
            close = products >= a_needed[a_rows, None]
            if same and i == j:
                close &= np.triu(np.ones(close.shape, bool), k=1)
            first, second = np.nonzero(close)
            candidates.append(np.stack([a_order[first + i], b_order[second + j]]))
        first, second = np.concatenate(candidates, axis=1)
        near = abs_diff_sums(a_blocks, b_blocks, first, second) <= limit
        first, second = first[near], second[near]
        distance = abs_diff_sums(a, b, first, second)
        found.append(np.stack([first, second, distance])[:, distance <= limit])
    first, second, distance = np.concatenate(found, axis=1)
    if same:
        first, second = np.minimum(first, second), np.maximum(first, second)
    order = np.lexsort((second, first))
    return Pairs(first[order], second[order], distance[order])


def search(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[tuple, Pairs]:
    """(split, twin's split) -> every pair within RADIUS, for each of COMPARISONS."""
    return {
        (split, twin): close_pairs(splits[split][0], None if split == twin else splits[twin][0])
        for split, twin in COMPARISONS
    }


def nearest_distances(pairs: Pairs, num_images: int, symmetric: bool) -> np.ndarray:
    """For each of `num_images` images on the first side of `pairs` (on either side if `symmetric`: pairs within one
    split), the sum of absolute differences to its nearest image among the pairs, or -1 if it has none."""
    none = np.iinfo(np.int64).max
    best = np.full(num_images, none)
    np.minimum.at(best, pairs.first, pairs.distance)
    if symmetric:
        np.minimum.at(best, pairs.second, pairs.distance)
    return np.where(best == none, -1, best)


# Summaries: pure functions of the pairs and the labels.


def counts(pairs: Pairs, labels: np.ndarray, twin_labels: np.ndarray, symmetric: bool, grey_levels: float) -> tuple:
    """Within `grey_levels`: (images with a twin that close, pairs that close, those pairs with different labels)."""
    close = pairs.within(limit_of(grey_levels))
    sides = [close.first, close.second] if symmetric else [close.first]
    disagreements = int((labels[close.first] != twin_labels[close.second]).sum())
    return len(np.unique(np.concatenate(sides))), len(close), disagreements


def counts_by_comparison(found: dict, splits: dict, grey_levels: float) -> list[tuple]:
    return [counts(found[s, t], splits[s][1], splits[t][1], s == t, grey_levels) for s, t in COMPARISONS]


def criterion_table(found: dict, splits: dict) -> str:
    """The card's table: per comparison, images with a twin within CRITERION, pairs, label disagreements."""
    rows = [
        [name, f"{len(splits[split][1]):,}", *(f"{n:,}" for n in c)]
        for name, (split, _), c in zip(
            COMPARISON_NAMES, COMPARISONS, counts_by_comparison(found, splits, CRITERION), strict=True
        )
    ]
    header = ["comparison", "images", f"images with a twin within {CRITERION}", "pairs", "pairs with different labels"]
    return common.markdown_table(header, rows)


def thresholds_table(found: dict, splits: dict) -> str:
    """Per threshold and comparison: images with a twin that close / pairs / pairs with different labels."""
    rows = []
    for grey_levels in THRESHOLDS:
        cells = [" / ".join(f"{n:,}" for n in c) for c in counts_by_comparison(found, splits, grey_levels)]
        rows.append([f"≤ {grey_levels}", *cells])
    return common.markdown_table(["mean abs. difference", *COMPARISON_NAMES], rows)


def histogram_table(found: dict, splits: dict) -> str:
    """Per comparison, how many images have their nearest neighbour at each distance, in bins of
    HISTOGRAM_STEP grey levels (left-open, right-closed), and how many have none within RADIUS."""
    edges = np.arange(0, RADIUS + HISTOGRAM_STEP / 2, HISTOGRAM_STEP)
    columns = []
    for split, twin in COMPARISONS:
        best = nearest_distances(found[split, twin], len(splits[split][1]), split == twin)
        # Image counts with the nearest neighbour at most each edge, then the differences between edges.
        at_most = np.searchsorted(np.sort(best[best >= 0]), [limit_of(edge) for edge in edges], side="right")
        columns.append([*np.diff(at_most, prepend=0).tolist(), int((best < 0).sum())])
    labels = ["0", *(f"{lo:g} to {hi:g}" for lo, hi in itertools.pairwise(edges)), f"> {RADIUS}"]
    rows = [[label, *(f"{column[k]:,}" for column in columns)] for k, label in enumerate(labels)]
    return common.markdown_table(["nearest at (grey levels)", *COMPARISON_NAMES], rows)


# The pairs file and the picture.


def ranked(pairs: Pairs) -> list[list[int]]:
    """(index, twin index, sum of absolute differences) of each pair, closest first, then by the indices."""
    order = np.lexsort((pairs.second, pairs.first, pairs.distance))
    return np.stack([pairs.first, pairs.second, pairs.distance])[:, order].T.tolist()


def pair_rows(found: dict, splits: dict) -> list[tuple]:
    """Every pair within CRITERION: (split, index, label, twin split, twin index, twin label, mean
    absolute difference), by comparison in COMPARISONS order, then by distance and indices."""
    return [
        (split, i, int(splits[split][1][i]), twin, j, int(splits[twin][1][j]), distance / PIXELS)
        for split, twin in COMPARISONS
        for i, j, distance in ranked(found[split, twin].within(limit_of(CRITERION)))
    ]


def csv_text(rows: list[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([*row[:-1], f"{row[-1]:.3f}"] for row in rows)
    return out.getvalue()


def picture_sections(splits: dict, found: dict) -> list[tuple[str, list]]:
    """The picture's (title, cells): every test/train pair within the criterion, the next closest test/train pairs, the
    closest pairs within each split."""
    across = ranked(found["test", "train"])
    within = sum(distance <= limit_of(CRITERION) for *_, distance in across)
    beyond = across[within : within + SHOWN]
    sections = [
        (f"test against train: the {within} pairs within {CRITERION} grey levels", "test", "train", across[:within]),
        (f"test against train: the next {len(beyond)}, beyond the criterion", "test", "train", beyond),
        *((f"within {s}: the closest pairs", s, s, ranked(found[s, s])[:SHOWN]) for s in SPLITS),
    ]
    return [
        (title, [pair_cell(splits, split, i, twin, j, distance) for i, j, distance in pairs])
        for title, split, twin, pairs in sections
    ]


def picture_bytes(splits: dict, found: dict) -> bytes:
    """Pairs side by side (left: the first image, right: its twin) with indices, labels and distance."""
    cell_width = 2 * SCALE * fm.IMAGE_SIDE + pictures.SPACING + pictures.GAP
    return pictures.png_bytes(pictures.sheet(picture_sections(splits, found), PICTURE_COLUMNS, cell_width, SCALE))


def pair_cell(splits: dict, split: str, i: int, twin: str, j: int, distance: int) -> tuple[list, list[str]]:
    """A pair's two images and its caption: indices, labels (one if they agree), distance."""
    (images, labels), (twin_images, twin_labels) = splits[split], splits[twin]
    names = [fm.CLASS_NAMES[label] for label in dict.fromkeys([labels[i], twin_labels[j]])]
    side = "within" if distance <= limit_of(CRITERION) else "beyond"  # of the criterion, wherever a pair is shown
    caption = [
        f"{split} {i}  {twin} {j}",
        " / ".join(names),
        f"{distance / PIXELS:.2f} grey levels: {side} {CRITERION}",
    ]
    return [images[i], twin_images[j]], caption
