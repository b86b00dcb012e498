"""The card's picture (images/examples.png): regenerated from the official archives, tile by tile what it claims."""

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import fashion_mnist as fm
from tests.archives import archive_arrays
from tests.fixtures import REPO
from tools import pictures

PICTURE = REPO / "images" / "examples.png"
GAP, LINE, SPACING = pictures.GAP, pictures.LINE, pictures.SPACING
TITLE = LINE + GAP // 2  # from a class name's top to its row of images


def first_ten_of_each_class(labels: np.ndarray) -> list[list[int]]:
    rows = [[] for _ in fm.CLASS_NAMES]
    for index, label in enumerate(labels.tolist()):
        if len(rows[label]) < 10:
            rows[label].append(index)
    return rows


def drawn(images: np.ndarray, indices: list[list[int]], scale: int, font=pictures.FONT) -> np.ndarray:
    """The picture as its layout says, drawn here: for each class, its name, then its images in one row below it,
    `scale` times larger by pixel repetition, on black."""
    side = scale * fm.IMAGE_SIDE
    section = TITLE + side + GAP
    canvas = Image.new("L", (2 * GAP + 10 * (side + SPACING) - SPACING, GAP + len(indices) * section), 0)
    for label, row in enumerate(indices):
        y = GAP + label * section
        ImageDraw.Draw(canvas).text((GAP, y), fm.CLASS_NAMES[label], 255, font)
        for column, index in enumerate(row):
            tile = Image.fromarray(np.repeat(np.repeat(images[index], scale, axis=0), scale, axis=1))
            canvas.paste(tile, (GAP + column * (side + SPACING), y + TITLE))
    return np.asarray(canvas)


def read(png: bytes) -> tuple[dict, np.ndarray]:
    with Image.open(io.BytesIO(png)) as picture:
        return json.loads(picture.text["Source"]), np.asarray(picture.convert("L"))


def test_each_class_is_named_above_its_first_ten_images_in_pillows_scalable_font():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(130, 28, 28), dtype=np.uint8)
    # Fourteen examples of each class but the last, which has four: a row shorter than ten.
    labels = rng.permutation(np.concatenate([np.repeat(np.arange(9), 14), np.full(4, 9)])).astype(np.uint8)
    source, picture = read(pictures.examples({"train": (images, labels)}))
    assert source == {
        "split": "train",
        "scale": 2,
        "classes": fm.CLASS_NAMES,
        "indices": first_ten_of_each_class(labels),
    }
    np.testing.assert_array_equal(picture, drawn(images, source["indices"], 2))
    # In the bitmap font "T" has almost no left arm: "T - shirt / top" read as "I - shirt / top".
    assert isinstance(pictures.FONT, ImageFont.FreeTypeFont)
    in_bitmap_font = drawn(images, source["indices"], 2, ImageFont.load_default_imagefont())
    assert (picture[GAP : GAP + TITLE] != in_bitmap_font[GAP : GAP + TITLE]).sum() > 100


@pytest.mark.real
def test_each_tile_is_the_archive_image_it_claims_with_its_label(official_dir):
    source, picture = read(PICTURE.read_bytes())
    images, labels = archive_arrays(official_dir, source["split"])
    assert (source["split"], source["classes"]) == ("train", fm.CLASS_NAMES)
    assert source["indices"] == first_ten_of_each_class(labels)
    for label, indices in enumerate(source["indices"]):
        assert [int(labels[i]) for i in indices] == [label] * 10, fm.CLASS_NAMES[label]
    np.testing.assert_array_equal(picture, drawn(images, source["indices"], source["scale"]))
