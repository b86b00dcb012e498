"""The card's picture (images/examples.png): regenerated from the official archives, tile by tile what it claims."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import fashion_mnist as fm
from tests.archives import archive_arrays
from tests.fixtures import REPO
from tools import sample_grid

PICTURE = REPO / "images" / "examples.png"


def tile(picture: np.ndarray, row: int, column: int, scale: int) -> np.ndarray:
    x, y = sample_grid.tile_origin(row, column)
    return picture[y : y + scale * fm.IMAGE_SIDE, x : x + scale * fm.IMAGE_SIDE]


def enlarged(image: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def test_pick_takes_the_first_examples_of_each_class_in_order():
    labels = np.array([9, 0, 0, 3, 0, 9, 1, 2, 4, 5, 6, 7, 8, 0], np.uint8)
    rows = sample_grid.pick(labels, per_class=2)
    assert rows[0] == [1, 2]
    assert rows[9] == [0, 5]
    assert rows[3] == [3]
    assert all(labels[i] == label for label, row in enumerate(rows) for i in row)


def test_draw_places_each_image_in_its_tile():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    rows = [[3 * label, 3 * label + 1, 3 * label + 2] for label in range(10)]
    grid = np.asarray(sample_grid.draw(images, rows))
    for r, indices in enumerate(rows):
        for c, index in enumerate(indices):
            expected = enlarged(images[index], sample_grid.SCALE)
            np.testing.assert_array_equal(tile(grid, r, c, sample_grid.SCALE), expected)


def test_class_names_are_in_pillows_scalable_font_not_its_bitmap_font():
    # In the bitmap font "T" has almost no left arm: "T - shirt / top" read as "I - shirt / top".
    grid = sample_grid.draw(np.zeros((10, 28, 28), np.uint8), [[label] for label in range(10)])
    _, y = sample_grid.tile_origin(0, 0)
    shown = np.asarray(grid.crop((0, y, sample_grid.NAME_WIDTH, y + sample_grid.SIDE)))

    def drawn_in(font) -> np.ndarray:
        cell = Image.new("L", (sample_grid.NAME_WIDTH, sample_grid.SIDE), 0)
        ImageDraw.Draw(cell).text((2 * sample_grid.GAP, sample_grid.SIDE // 2), fm.CLASS_NAMES[0], 255, font, "lm")
        return np.asarray(cell)

    assert isinstance(sample_grid.FONT, ImageFont.FreeTypeFont)
    np.testing.assert_array_equal(shown, drawn_in(sample_grid.FONT))
    assert (shown != drawn_in(ImageFont.load_default_imagefont())).sum() > 100


@pytest.mark.real
def test_each_tile_is_the_archive_image_it_claims_with_its_label(official_dir):
    with Image.open(PICTURE) as png:
        source = json.loads(png.text["Source"])
        picture = np.asarray(png.convert("L"))
    images, labels = archive_arrays(official_dir, source["split"])
    assert source["classes"] == fm.CLASS_NAMES
    assert len(source["indices"]) == len(fm.CLASS_NAMES)
    for label, indices in enumerate(source["indices"]):
        assert len(indices) == sample_grid.PER_CLASS
        assert [int(labels[i]) for i in indices] == [label] * len(indices), fm.CLASS_NAMES[label]
        for column, index in enumerate(indices):
            shown = tile(picture, label, column, source["scale"])
            expected = enlarged(images[index], source["scale"])
            np.testing.assert_array_equal(shown, expected, f"row {label}, tile {column}")
