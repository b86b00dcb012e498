"""The repository's pictures: archive images enlarged without smoothing, a sheet of captioned cells in titled
sections, PNG bytes that the same pixels and Pillow release always make the same, and the card's picture."""

import io
import json

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

import fashion_mnist as fm
from tools import common

# Pillow's scalable default font (Aileron, shipped inside Pillow with its FreeType): the same Pillow release draws
# the same pixels everywhere.
FONT = ImageFont.load_default(size=12)
LINE = 15  # pixels from one line of text to the next
BLACK, GREY, WHITE = 0, 128, 255
GAP = 12  # pixels around sections and cells
SPACING = 4  # pixels between the images of one cell
# The card's picture: the first PER_CLASS training images of each class, SCALE times larger.
EXAMPLES = common.REPO / "images" / "examples.png"
PER_CLASS, SCALE = 10, 2


def sheet(sections: list[tuple[str, list]], columns: int, cell_width: int, scale: int, background=BLACK) -> Image.Image:
    """Each section's title, then its cells, `columns` to a row, on `background`. A cell is (images, caption lines):
    the images side by side, `scale` times larger (each pixel repeated), pixels at 0 in `background`, caption below."""
    side = fm.IMAGE_SIDE * scale
    lines = max((len(caption) for _, cells in sections for _, caption in cells), default=0)
    cell_height = side + lines * LINE + GAP
    rows = [-(-len(cells) // columns) for _, cells in sections]
    height = GAP + sum(LINE + GAP // 2 + n * cell_height for n in rows)
    canvas = Image.new("L", (GAP + columns * cell_width, height), background)
    pen = ImageDraw.Draw(canvas)
    ink = WHITE if background < GREY else BLACK
    y = GAP
    for (title, cells), n in zip(sections, rows, strict=True):
        pen.text((GAP, y), title, fill=ink, font=FONT)
        y += LINE + GAP // 2
        for k, (images, caption) in enumerate(cells):
            x, top = GAP + (k % columns) * cell_width, y + (k // columns) * cell_height
            for m, image in enumerate(images):
                tile = np.where(image == 0, background, image).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
                canvas.paste(Image.fromarray(tile, "L"), (x + m * (side + SPACING), top))
            for line, text in enumerate(caption):
                pen.text((x, top + side + 2 + line * LINE), text, fill=ink, font=FONT)
        y += n * cell_height
    return canvas


def png_bytes(picture: Image.Image, source: dict | None = None) -> bytes:
    """The picture as an optimized PNG; `source`, if given, as JSON in its text chunk `Source`."""
    metadata = PngImagePlugin.PngInfo()
    if source is not None:
        metadata.add_text("Source", json.dumps(source))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=metadata, optimize=True)
    return buffer.getvalue()


def examples(splits: dict) -> bytes:
    """The card's picture, from the official splits (common.load_official): each class's name above its first training
    images, in archive order. The text chunk `Source` says which image each tile is (tests/test_sample_grid.py)."""
    images, labels = splits["train"]
    rows = [np.flatnonzero(labels == label)[:PER_CLASS].tolist() for label in range(len(fm.CLASS_NAMES))]
    sections = [(name, [([images[i] for i in row], [])]) for name, row in zip(fm.CLASS_NAMES, rows, strict=True)]
    cell_width = PER_CLASS * (SCALE * fm.IMAGE_SIDE + SPACING) - SPACING + GAP
    source = {"split": "train", "scale": SCALE, "classes": fm.CLASS_NAMES, "indices": rows}
    return png_bytes(sheet(sections, 1, cell_width, SCALE), source)
