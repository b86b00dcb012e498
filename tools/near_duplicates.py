"""Near-duplicates and train/test leakage: every image's nearest other image, by an exact search.

    .venv/bin/python -m tools.near_duplicates --data-dir ../shared/fashion-mnist

Distance: the mean absolute difference of two images' grey levels (0-255) over their 784 pixels. For
every image the search finds, exactly, its nearest other image in its split and, for a test image, its
nearest training image, whenever that neighbour lies within RADIUS grey levels (farther neighbours are
only known to be farther). It prints the distribution of those distances, the counts at several
thresholds and its time, and writes near_duplicates.csv (every pair within CRITERION) and
images/near_duplicates.png (the closest pairs). docs/near-duplicates.md explains the method and the numbers.
"""

import csv
import dataclasses
import io
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import fashion_mnist as fm
from tools import cli, common, paths

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

# The picture: pairs side by side, PICTURE_SCALE times the archive's pixels, captions in Pillow's bitmap font.
PICTURE_SCALE = 3
PICTURE_COLUMNS = 5
BEYOND_CRITERION_SHOWN = 5  # the closest test/train pairs above the criterion, for comparison
WITHIN_SPLIT_SHOWN = 5
GAP = 12
LINE = 12
BACKGROUND = 0
TEXT = 255


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


def _rows(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), PIXELS)


def abs_diff_sums(a: np.ndarray, b: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Exact sum over pixels of |a[first[k]] - b[second[k]]|, for each k (int64)."""
    a, b = _rows(a), _rows(b)
    sums = np.empty(len(first), np.int64)
    for start in range(0, len(first), EXACT_CHUNK):
        x = a[first[start : start + EXACT_CHUNK]]
        y = b[second[start : start + EXACT_CHUNK]]
        sums[start : start + EXACT_CHUNK] = (np.maximum(x, y) - np.minimum(x, y)).sum(axis=1, dtype=np.int64)
    return sums


def block_sums(images: np.ndarray) -> np.ndarray:
    """Each image's sums over BLOCK x BLOCK squares of pixels, as int16 rows."""
    side = fm.IMAGE_SIDE // BLOCK
    blocks = _rows(images).reshape(len(images), side, BLOCK, side, BLOCK)
    return blocks.sum(axis=(2, 4), dtype=np.int16).reshape(len(images), side * side)


def block_bounds(a_blocks: np.ndarray, b_blocks: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A lower bound of each pair's sum of absolute differences: the sum of |difference of block sums|."""
    bounds = np.empty(len(first), np.int64)
    for start in range(0, len(first), EXACT_CHUNK):
        x = a_blocks[first[start : start + EXACT_CHUNK]]
        y = b_blocks[second[start : start + EXACT_CHUNK]]
        bounds[start : start + EXACT_CHUNK] = np.abs(x - y).sum(axis=1, dtype=np.int64)
    return bounds


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
    a = _rows(a)
    b = a if same else _rows(b)
    limit = limit_of(radius)
    a_sums, b_sums = a.sum(axis=1, dtype=np.int64), b.sum(axis=1, dtype=np.int64)
    a_blocks = block_sums(a)
    b_blocks = a_blocks if same else block_sums(b)
    a_order, b_order = np.argsort(a_sums, kind="stable"), np.argsort(b_sums, kind="stable")
    a_sums, b_sums = a_sums[a_order], b_sums[b_order]
    # bound <= limit + MARGIN  <=>  <sqrt(a), sqrt(b)> - sum(b) / 2 >= (sum(a) - limit - MARGIN) / 2;
    # halves of integers below 2**24 are exact in float32.
    a_needed = ((a_sums - limit - MARGIN) / 2).astype(np.float32)
    b_halves = (b_sums / 2).astype(np.float32)
    nothing = np.empty(0, np.int64)
    found = [(nothing, nothing, nothing)]
    for i in range(0, len(a), TILE):
        a_rows = slice(i, i + TILE)
        a_roots = np.sqrt(a[a_order[a_rows]], dtype=np.float32)
        candidates = [(nothing, nothing)]
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
            candidates.append((a_order[first + i], b_order[second + j]))
        first = np.concatenate([c[0] for c in candidates])
        second = np.concatenate([c[1] for c in candidates])
        near = block_bounds(a_blocks, b_blocks, first, second) <= limit
        first, second = first[near], second[near]
        distance = abs_diff_sums(a, b, first, second)
        keep = distance <= limit
        found.append((first[keep], second[keep], distance[keep]))
    first, second, distance = (np.concatenate([f[k] for f in found]).astype(np.int64) for k in range(3))
    if same:
        first, second = np.minimum(first, second), np.maximum(first, second)
    order = np.lexsort((second, first))
    return Pairs(first[order], second[order], distance[order])


def search(splits: dict[str, tuple[np.ndarray, np.ndarray]], radius: float = RADIUS) -> dict[tuple, Pairs]:
    """(split, twin's split) -> every pair within `radius`, for each of COMPARISONS."""
    return {
        (split, twin): close_pairs(splits[split][0], None if split == twin else splits[twin][0], radius)
        for split, twin in COMPARISONS
    }


def nearest(pairs: Pairs, num_images: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each of `num_images` images on the first side, (twin index, distance) of its nearest image
    among `pairs` (ties go to the lowest index), or (-1, -1) if it has none. `symmetric`: the pairs are
    within one split, so each image's twin can sit on either side of a pair."""
    first, second, distance = pairs.first, pairs.second, pairs.distance
    if symmetric:
        first, second = np.concatenate([first, second]), np.concatenate([second, first])
        distance = np.concatenate([distance, distance])
    twin = np.full(num_images, -1, np.int64)
    best = np.full(num_images, -1, np.int64)
    order = np.lexsort((second, distance, first))
    first, second, distance = first[order], second[order], distance[order]
    heads = np.flatnonzero(np.r_[True, first[1:] != first[:-1]]) if len(first) else np.empty(0, np.int64)
    twin[first[heads]] = second[heads]
    best[first[heads]] = distance[heads]
    return twin, best


# Summaries: pure functions of the pairs and the labels.


@dataclasses.dataclass(frozen=True)
class Counts:
    """Within one threshold: `images` with a twin that close, `pairs` that close, and how many of those
    pairs carry two different labels."""

    images: int
    pairs: int
    label_disagreements: int


def counts(pairs: Pairs, labels: np.ndarray, twin_labels: np.ndarray, symmetric: bool, grey_levels: float) -> Counts:
    close = pairs.within(limit_of(grey_levels))
    sides = [close.first, close.second] if symmetric else [close.first]
    return Counts(
        images=len(np.unique(np.concatenate(sides))),
        pairs=len(close),
        label_disagreements=int((labels[close.first] != twin_labels[close.second]).sum()),
    )


def comparison_name(split: str, twin: str) -> str:
    return f"within {split}" if split == twin else f"{split} against {twin}"


def _counts_by_comparison(found, splits, grey_levels):
    return {
        (split, twin): counts(found[split, twin], splits[split][1], splits[twin][1], split == twin, grey_levels)
        for split, twin in COMPARISONS
    }


def criterion_table(found: dict, splits: dict) -> str:
    """The card's table: per comparison, images with a twin within CRITERION, pairs, label disagreements."""
    rows = []
    for (split, twin), c in _counts_by_comparison(found, splits, CRITERION).items():
        num_images = len(splits[split][1])
        rows.append([comparison_name(split, twin), f"{num_images:,}", f"{c.images:,}", f"{c.pairs:,}"])
        rows[-1].append(f"{c.label_disagreements:,}")
    return common.markdown_table(
        ["comparison", "images", f"images with a twin within {CRITERION}", "pairs", "pairs with different labels"],
        rows,
    )


def thresholds_table(found: dict, splits: dict) -> str:
    """Per threshold and comparison: images with a twin that close / pairs / pairs with different labels."""
    rows = []
    for grey_levels in THRESHOLDS:
        by_comparison = _counts_by_comparison(found, splits, grey_levels)
        cells = [f"{c.images:,} / {c.pairs:,} / {c.label_disagreements:,}" for c in by_comparison.values()]
        rows.append([f"≤ {grey_levels}", *cells])
    return common.markdown_table(
        ["mean abs. difference", *(comparison_name(*comparison) for comparison in COMPARISONS)], rows
    )


def histogram_table(found: dict, splits: dict) -> str:
    """Per comparison, how many images have their nearest neighbour at each distance, in bins of
    HISTOGRAM_STEP grey levels (left-open, right-closed), and how many have none within RADIUS."""
    edges = np.arange(0, RADIUS + HISTOGRAM_STEP / 2, HISTOGRAM_STEP)
    columns = []
    for split, twin in COMPARISONS:
        _, best = nearest(found[split, twin], len(splits[split][1]), split == twin)
        limits = np.array([limit_of(edge) for edge in edges])
        # Image counts with the nearest neighbour at most each edge, then the differences between edges.
        cumulative = np.array([(best >= 0).sum() - (best > limit).sum() for limit in limits])
        columns.append([*np.diff(np.r_[0, cumulative]).tolist(), int((best < 0).sum())])
    labels = ["0", *(f"{lo:g} to {hi:g}" for lo, hi in itertools.pairwise(edges)), f"> {RADIUS}"]
    rows = [[label, *(f"{column[k]:,}" for column in columns)] for k, label in enumerate(labels)]
    return common.markdown_table(
        ["nearest at (grey levels)", *(comparison_name(*comparison) for comparison in COMPARISONS)], rows
    )


# The pairs file.


def pair_rows(found: dict, splits: dict, grey_levels: float = CRITERION) -> list[tuple]:
    """Every pair within `grey_levels`: (split, index, label, twin split, twin index, twin label, mean
    absolute difference), by comparison in COMPARISONS order, then by distance and indices."""
    rows = []
    for split, twin in COMPARISONS:
        close = found[split, twin].within(limit_of(grey_levels))
        labels, twin_labels = splits[split][1], splits[twin][1]
        for k in np.lexsort((close.second, close.first, close.distance)):
            i, j = int(close.first[k]), int(close.second[k])
            rows.append((split, i, int(labels[i]), twin, j, int(twin_labels[j]), int(close.distance[k]) / PIXELS))
    return rows


def csv_text(rows: list[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([*row[:-1], f"{row[-1]:.3f}"] for row in rows)
    return out.getvalue()


# The picture.


def picture_sections(found: dict) -> list[tuple[str, str, str, list[tuple]]]:
    """(title, split, twin split, [(index, twin index, distance)]) of each block of the picture: every
    test/train pair within the criterion, the next closest test/train pairs, the closest pairs within each split."""
    limit = limit_of(CRITERION)

    def closest(split, twin):
        pairs = found[split, twin]
        order = np.lexsort((pairs.second, pairs.first, pairs.distance))
        return [(int(pairs.first[k]), int(pairs.second[k]), int(pairs.distance[k])) for k in order]

    across = closest("test", "train")
    within = [p for p in across if p[2] <= limit]
    beyond = [p for p in across if p[2] > limit][:BEYOND_CRITERION_SHOWN]
    return [
        (f"test against train: the {len(within)} pairs within {CRITERION} grey levels", "test", "train", within),
        (f"test against train: the next {len(beyond)}, beyond the criterion", "test", "train", beyond),
        *(
            (f"within {split}: the closest pairs", split, split, closest(split, split)[:WITHIN_SPLIT_SHOWN])
            for split in ("test", "train")
        ),
    ]


def _caption(split, index, label, twin, twin_index, twin_label, distance) -> list[str]:
    names = fm.CLASS_NAMES[label] if label == twin_label else f"{fm.CLASS_NAMES[label]} / {fm.CLASS_NAMES[twin_label]}"
    return [f"{split} {index}  {twin} {twin_index}", names, f"{distance / PIXELS:.2f} grey levels apart"]


def draw_picture(splits: dict, found: dict) -> Image.Image:
    """Each pair side by side (left: the first image, right: its twin), with indices, labels and distance."""
    side = fm.IMAGE_SIDE * PICTURE_SCALE
    pair_width = 2 * side + 4
    font = ImageFont.load_default_imagefont()  # Pillow's bitmap font: no FreeType, same pixels everywhere
    sections = picture_sections(found)
    cell_height = side + 3 * LINE + GAP
    height = GAP
    for *_, pairs in sections:
        height += LINE + GAP // 2 + -(-len(pairs) // PICTURE_COLUMNS) * cell_height
    width = GAP + PICTURE_COLUMNS * (pair_width + GAP)
    canvas = Image.new("L", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    y = GAP
    for title, split, twin, pairs in sections:
        pen.text((GAP, y), title, fill=TEXT, font=font)
        y += LINE + GAP // 2
        for k, (i, j, distance) in enumerate(pairs):
            x = GAP + (k % PICTURE_COLUMNS) * (pair_width + GAP)
            top = y + (k // PICTURE_COLUMNS) * cell_height
            for offset, image in [(0, splits[split][0][i]), (side + 4, splits[twin][0][j])]:
                tile = Image.fromarray(image, "L").resize((side, side), Image.Resampling.NEAREST)
                canvas.paste(tile, (x + offset, top))
            caption = _caption(split, i, int(splits[split][1][i]), twin, j, int(splits[twin][1][j]), distance)
            for line, text in enumerate(caption):
                pen.text((x, top + side + 2 + line * LINE), text, fill=TEXT, font=font)
        y += -(-len(pairs) // PICTURE_COLUMNS) * cell_height
    return canvas


def picture_bytes(splits: dict, found: dict) -> bytes:
    buffer = io.BytesIO()
    draw_picture(splits, found).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# Command line.


def main(argv=None) -> int:
    parser = cli.tool_parser(__doc__)
    parser.add_argument("--pairs-out", default=str(PAIRS_FILE), help="CSV file to write, in a folder that exists")
    parser.add_argument("--picture-out", default=str(PICTURE), help="PNG file to write, in a folder that exists")
    args = parser.parse_args(argv)
    return cli.run("tools.near_duplicates", lambda: run(args), debug=args.debug)


def run(args) -> None:
    pairs_out = paths.check_output_file(args.pairs_out, "--pairs-out")
    picture_out = paths.check_output_file(args.picture_out, "--picture-out")
    if pairs_out == picture_out:
        raise cli.UserError(f"--pairs-out {args.pairs_out} and --picture-out {args.picture_out} are the same file")
    splits = common.load_official(paths.check_data_dir(args.data_dir))
    wall, cpu = time.perf_counter(), time.process_time()
    found = search(splits)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"Search over {sum(len(labels) for _, labels in splits.values()):,} images: {wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    print(f"\nNearest neighbour, images per distance:\n\n{histogram_table(found, splits)}")
    print(f"\nImages with a twin / pairs / pairs with different labels:\n\n{thresholds_table(found, splits)}")
    print(f"\nNear-duplicates (within {CRITERION} grey levels):\n\n{criterion_table(found, splits)}\n")
    pairs_csv = csv_text(pair_rows(found, splits)).encode("utf-8")
    paths.write_files({pairs_out: pairs_csv, picture_out: picture_bytes(splits, found)})
    print(f"Wrote {Path(args.pairs_out)} and {Path(args.picture_out)}")


if __name__ == "__main__":
    sys.exit(main())
