"""The card's picture, images/examples.png (tools.regenerate writes it): the first training images of each class, one
row per class with its name.

The images are the archives' pixel values (light product on a dark background), drawn SCALE times larger with
no smoothing. The same archives and Pillow release give the same bytes. The PNG's text chunk `Source`
records which training image each tile is, for tests/test_sample_grid.py to check against the archives.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import fashion_mnist as fm
from tools import common, pictures

OUT = common.REPO / "images" / "examples.png"
SPLIT = "train"
PER_CLASS = 10
SCALE = 2
SIDE = SCALE * fm.IMAGE_SIDE
GAP = 4  # pixels between tiles
FONT = ImageFont.load_default(size=16)
# The column of class names: the longest name with 2 * GAP on either side.
NAME_WIDTH = max(int(FONT.getlength(name)) for name in fm.CLASS_NAMES) + 4 * GAP


def pick(labels: np.ndarray, per_class: int = PER_CLASS) -> list[list[int]]:
    """For each class, the indices of its first `per_class` examples, in archive order."""
    return [np.flatnonzero(labels == label)[:per_class].tolist() for label in range(len(fm.CLASS_NAMES))]


def tile_origin(row: int, column: int) -> tuple[int, int]:
    """(x, y) of a tile's top-left corner."""
    return NAME_WIDTH + column * (SIDE + GAP), GAP + row * (SIDE + GAP)


def draw(images: np.ndarray, rows: list[list[int]]) -> Image.Image:
    """The grid: row r shows images[rows[r]], SCALE times larger, after the name of class r."""
    grid = Image.new("L", tile_origin(len(rows), max(len(row) for row in rows)), pictures.BLACK)
    pen = ImageDraw.Draw(grid)
    for r, indices in enumerate(rows):
        _, y = tile_origin(r, 0)
        pen.text((2 * GAP, y + SIDE // 2), fm.CLASS_NAMES[r], fill=pictures.WHITE, font=FONT, anchor="lm")
        for c, index in enumerate(indices):
            grid.paste(pictures.enlarged(images[index], SCALE), tile_origin(r, c))
    return grid


def make(splits: dict) -> bytes:
    """The picture's bytes, from the official splits (common.load_official)."""
    images, labels = splits[SPLIT]
    rows = pick(labels)
    source = {"split": SPLIT, "scale": SCALE, "classes": fm.CLASS_NAMES, "indices": rows}
    return pictures.png_bytes(draw(images, rows), source)
