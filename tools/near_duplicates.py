"""Near-duplicates and train/test leakage: an exact search for every pair of images at most RADIUS apart, in each
split and between test and train, by the mean absolute difference of their grey levels (0-255) over the 784 pixels.
From it, tools.regenerate writes the tables of nearest distances and of counts, near_duplicates.csv (every pair within
CRITERION) and images/near_duplicates.png. docs/near-duplicates.md explains the method and the numbers."""

import csv
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
# Near-duplicates: at most this many grey levels apart. Chosen from the distribution (docs/near-duplicates.md).
CRITERION = 3
THRESHOLDS = (1, 2, 3, 4, 5, 6, 8)
HISTOGRAM_STEP = 0.5
# (split, twin's split): test images against train, then each split against itself.
COMPARISONS = (("test", "train"), ("test", "test"), ("train", "train"))
COMPARISON_NAMES = [f"within {split}" if split == twin else f"{split} against {twin}" for split, twin in COMPARISONS]
CSV_HEADER = ("split", "index", "label", "twin_split", "twin_index", "twin_label", "mean_abs_diff")
# Pairs are int64 arrays of rows (index, twin's index, sum of absolute differences), sorted by the indices; within one
# split, index < twin's index. The sum divided by PIXELS is the distance in grey levels.

# Rows and columns of one tile of the matrix product (float32, 4 MiB).
TILE = 1024
# Side of the squares of pixels whose sums give a cheap lower bound of the distance (a divisor of 28).
BLOCK = 4
# Pairs whose distance is computed at once (two uint8 arrays of 12 MiB).
EXACT_CHUNK = 16384
# The float32 product <sqrt(a), sqrt(b)> is off by at most about 786 * 2**-24 * 784 * 255 < 10 (the usual bound for a
# sum of 784 rounded products, each at most 255). A wider margin costs a few more exact checks, never a missed pair.
MARGIN = 64.0

# The picture: pairs side by side, SCALE times larger. Every test/train pair within the criterion, the SHOWN next
# closest, and the SHOWN closest pairs within each split.
SHOWN = 5
SCALE = 3
PICTURE_COLUMNS = 5


def limit_of(grey_levels: float) -> int:
    """The largest sum of absolute differences whose mean over the pixels is at most `grey_levels`."""
    return int(np.floor(grey_levels * PIXELS + 1e-9))


def within(pairs: np.ndarray, grey_levels: float) -> np.ndarray:
    """The pairs at most `grey_levels` apart."""
    return pairs[pairs[:, 2] <= limit_of(grey_levels)]


# The search: pure functions of uint8 arrays of shape (n, 28, 28).


def exact_pairs(a: np.ndarray, b: np.ndarray, pairs: np.ndarray, limit: int) -> np.ndarray:
    """Rows (i, j, sum |a[i] - b[j]|) of the `pairs` (i, j) whose sum is at most `limit`; exact, in integers. a and b:
    rows of pixels or of block sums."""
    sums = np.empty(len(pairs), np.int64)
    for start in range(0, len(pairs), EXACT_CHUNK):
        chunk = pairs[start : start + EXACT_CHUNK]
        x, y = a[chunk[:, 0]], b[chunk[:, 1]]
        sums[start : start + EXACT_CHUNK] = (np.maximum(x, y) - np.minimum(x, y)).sum(axis=1, dtype=np.int64)
    return np.column_stack([pairs[:, :2], sums])[sums <= limit]


def block_sums(rows: np.ndarray) -> np.ndarray:
    """Each image's sums over BLOCK x BLOCK squares of pixels, as int16 rows."""
    side = fm.IMAGE_SIDE // BLOCK
    squares = rows.reshape(len(rows), side, BLOCK, side, BLOCK)
    return squares.sum(axis=(2, 4), dtype=np.int16).reshape(len(rows), side * side)


def close_pairs(a: np.ndarray, b: np.ndarray | None = None, radius: float = RADIUS) -> np.ndarray:
    """The pairs (a[i], b[j]) at most `radius` grey levels apart, exactly; with b None, those within a (i < j).
    Three lower bounds of sum |a - b| rule out most pairs, and the pairs left get their exact distance:
    - |sum(a) - sum(b)|: with the images sorted by their sums, whole tiles of pairs lie too far apart;
    - sum(a) + sum(b) - 2 <sqrt(a), sqrt(b)>, as (sqrt(x) - sqrt(y))**2 <= |x - y| for x, y >= 0: one float32 matrix
      product per tile, keeping the pairs within the radius plus MARGIN;
    - the sum of |differences of block sums| (BLOCK x BLOCK squares, 49 numbers per image)."""
    same = b is None
    a = np.asarray(a, np.uint8).reshape(len(a), PIXELS)
    b = a if same else np.asarray(b, np.uint8).reshape(len(b), PIXELS)
    limit = limit_of(radius)
    a_blocks, b_blocks = block_sums(a), block_sums(b)
    a_sums, b_sums = a.sum(axis=1, dtype=np.int64), b.sum(axis=1, dtype=np.int64)
    a_order, b_order = np.argsort(a_sums, kind="stable"), np.argsort(b_sums, kind="stable")
    a_sums, b_sums = a_sums[a_order], b_sums[b_order]
    # bound <= limit + MARGIN  <=>  <sqrt(a), sqrt(b)> - sum(b) / 2 >= (sum(a) - limit - MARGIN) / 2;
    # halves of integers below 2**24 are exact in float32.
    a_needed = ((a_sums - limit - MARGIN) / 2).astype(np.float32)
    b_halves = (b_sums / 2).astype(np.float32)
    found = [np.empty((0, 3), np.int64)]
    for i in range(0, len(a), TILE):
        a_rows = slice(i, i + TILE)
        a_roots = np.sqrt(a[a_order[a_rows]], dtype=np.float32)
        candidates = [np.empty((0, 2), np.int64)]
        for j in range(i if same else 0, len(b), TILE):
            b_rows = slice(j, j + TILE)
            if b_sums[b_rows][0] > a_sums[a_rows][-1] + limit or b_sums[b_rows][-1] < a_sums[a_rows][0] - limit:
                continue
            products = a_roots @ np.sqrt(b[b_order[b_rows]], dtype=np.float32).T
            products -= b_halves[None, b_rows]
            close = products >= a_needed[a_rows, None]
            first, second = np.nonzero(np.triu(close, k=1) if same and i == j else close)
            candidates.append(np.column_stack([a_order[first + i], b_order[second + j]]))
        candidates = exact_pairs(a_blocks, b_blocks, np.concatenate(candidates), limit)
        found.append(exact_pairs(a, b, candidates, limit))
    pairs = np.concatenate(found)
    if same:
        pairs[:, :2].sort(axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def search(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[tuple, np.ndarray]:
    """(split, twin's split) -> every pair within RADIUS, for each of COMPARISONS."""
    return {
        (split, twin): close_pairs(splits[split][0], None if split == twin else splits[twin][0])
        for split, twin in COMPARISONS
    }


def nearest_distances(pairs: np.ndarray, num_images: int, symmetric: bool) -> np.ndarray:
    """Each image's sum of absolute differences to its nearest twin among the pairs, or -1 if it has none. The
    `num_images` images are the pairs' first side, or either side if `symmetric` (pairs within one split)."""
    none = np.iinfo(np.int64).max
    best = np.full(num_images, none)
    for side in (0, 1) if symmetric else (0,):
        np.minimum.at(best, pairs[:, side], pairs[:, 2])
    return np.where(best == none, -1, best)


# Summaries: pure functions of the pairs and the labels.


def counts(pairs: np.ndarray, labels: np.ndarray, twin_labels: np.ndarray, symmetric: bool, grey_levels: float):
    """Within `grey_levels`: (images with a twin that close, pairs that close, those pairs with different labels)."""
    first, second, _ = within(pairs, grey_levels).T
    images = np.unique(np.concatenate([first, second]) if symmetric else first)
    return len(images), len(first), int((labels[first] != twin_labels[second]).sum())


def counts_by_comparison(found: dict, splits: dict, grey_levels: float) -> list[tuple]:
    return [counts(found[s, t], splits[s][1], splits[t][1], s == t, grey_levels) for s, t in COMPARISONS]


def criterion_table(found: dict, splits: dict) -> str:
    """The card's table: per comparison, images with a twin within CRITERION, pairs, label disagreements."""
    header = ["comparison", "images", f"images with a twin within {CRITERION}", "pairs", "pairs with different labels"]
    counted = counts_by_comparison(found, splits, CRITERION)
    rows = [
        [name, f"{len(splits[split][1]):,}", *(f"{n:,}" for n in c)]
        for name, (split, _), c in zip(COMPARISON_NAMES, COMPARISONS, counted, strict=True)
    ]
    return common.markdown_table(header, rows)


def thresholds_table(found: dict, splits: dict) -> str:
    """Per threshold and comparison: images with a twin that close / pairs / pairs with different labels."""
    rows = []
    for grey_levels in THRESHOLDS:
        cells = [" / ".join(f"{n:,}" for n in c) for c in counts_by_comparison(found, splits, grey_levels)]
        rows.append([f"≤ {grey_levels}", *cells])
    return common.markdown_table(["mean abs. difference", *COMPARISON_NAMES], rows)


def histogram_table(found: dict, splits: dict) -> str:
    """Per comparison, the images whose nearest neighbour lies in each bin of HISTOGRAM_STEP grey levels (left-open,
    right-closed), and those with none within RADIUS."""
    edges = np.arange(0, RADIUS + HISTOGRAM_STEP / 2, HISTOGRAM_STEP)
    limits = [limit_of(edge) for edge in edges]
    columns = []
    for split, twin in COMPARISONS:
        best = nearest_distances(found[split, twin], len(splits[split][1]), split == twin)
        # Bin k: above limits[k - 1], at most limits[k].
        binned = np.bincount(np.searchsorted(limits, best[best >= 0]), minlength=len(limits))
        columns.append([*binned.tolist(), int((best < 0).sum())])
    labels = ["0", *(f"{lo:g} to {hi:g}" for lo, hi in itertools.pairwise(edges)), f"> {RADIUS}"]
    rows = [[label, *(f"{column[k]:,}" for column in columns)] for k, label in enumerate(labels)]
    return common.markdown_table(["nearest at (grey levels)", *COMPARISON_NAMES], rows)


# The pairs file and the picture.


def ranked(pairs: np.ndarray) -> list[list[int]]:
    """The pairs as lists (index, twin index, sum of absolute differences), closest first, then by the indices."""
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2]))].tolist()


def pair_rows(found: dict, splits: dict) -> list[tuple]:
    """The rows of the pairs file (CSV_HEADER): every pair within CRITERION, by comparison, then by distance."""
    return [
        (split, i, int(splits[split][1][i]), twin, j, int(splits[twin][1][j]), f"{distance / PIXELS:.3f}")
        for split, twin in COMPARISONS
        for i, j, distance in ranked(within(found[split, twin], CRITERION))
    ]


def csv_text(rows: list[tuple]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([CSV_HEADER, *rows])
    return out.getvalue()


def picture_sections(splits: dict, found: dict) -> list[tuple[str, list]]:
    """The picture's (title, cells): every test/train pair within the criterion, the next closest test/train pairs, the
    closest pairs within each split."""
    across = ranked(found["test", "train"])
    close = len(within(found["test", "train"], CRITERION))
    beyond = across[close : close + SHOWN]
    sections = [
        (f"test against train: the {close} pairs within {CRITERION} grey levels", "test", "train", across[:close]),
        (f"test against train: the next {len(beyond)}, beyond the criterion", "test", "train", beyond),
        *((f"within {s}: the closest pairs", s, s, ranked(found[s, s])[:SHOWN]) for s in ("test", "train")),
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
