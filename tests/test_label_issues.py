"""Label issues: the shipped candidates file, its picture and the card's counts, against the official archives.

Finding the candidates needs PyTorch and cleanlab: examples/test_find_label_issues.py tests that part."""

import collections
import csv
import io
import re

import numpy as np
import pytest
from PIL import Image, ImageFont

import fashion_mnist as fm
from tests.fixtures import REPO
from tools import label_issues as li
from tools import layout, pictures

CARD = REPO / "README.md"
DOC = REPO / "docs" / "label-issues.md"
SIZES = {split.split: split.num_examples for split in fm.OFFICIAL_SPLITS}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with open(li.ISSUES_FILE, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


# The file on its own.


def test_file_has_the_documented_columns_and_both_splits(rows):
    assert li.ISSUES_FILE.read_text(encoding="utf-8").splitlines()[0] == ",".join(li.CSV_HEADER)
    assert {row["split"] for row in rows} == {"test", "train"}


def test_file_is_sorted_by_split_then_score_then_index(rows):
    keys = [(li.SPLIT_ORDER.index(row["split"]), float(row["score"]), int(row["index"])) for row in rows]
    assert keys == sorted(keys)


def test_each_example_occurs_once_with_a_valid_index_and_two_different_labels(rows):
    assert len({(row["split"], row["index"]) for row in rows}) == len(rows)
    for row in rows:
        assert 0 <= int(row["index"]) < SIZES[row["split"]], row
        assert {int(row["label"]), int(row["likely_label"])} <= set(range(len(fm.CLASS_NAMES))), row
        assert row["label"] != row["likely_label"], row
        assert 0 <= float(row["score"]) <= 1, row


def test_file_round_trips_through_the_module(rows):
    assert li.csv_text(li.read_candidates()) == li.ISSUES_FILE.read_text(encoding="utf-8")


def test_the_export_ships_the_file_the_picture_and_the_doc():
    assert {"label_issues.csv", "images/label_issues.png", "docs/label-issues.md"} <= set(layout.CARD_FILES)


# The picture.


def test_picture_shows_pixels_at_0_grey_so_that_dark_garments_stand_out():
    images = np.random.default_rng(0).integers(0, 60, size=(5, 28, 28), dtype=np.uint8)  # a dark garment's grey levels
    images[:, :, :9] = 0
    splits = {split: (images, np.zeros(5, np.uint8)) for split in li.SPLIT_ORDER}
    candidates = [li.Candidate("test", 2, 0, 3, 0.01), li.Candidate("train", 4, 1, 2, 0.0)]
    sheet = np.asarray(Image.open(io.BytesIO(li.picture_bytes(splits, candidates))))
    assert sheet[0, 0] == pictures.GREY
    x, y = pictures.GAP, pictures.GAP + pictures.LINE + pictures.GAP // 2  # the first section's first tile
    side = li.SCALE * fm.IMAGE_SIDE
    expected = np.where(images[2] == 0, pictures.GREY, images[2]).repeat(li.SCALE, axis=0).repeat(li.SCALE, axis=1)
    np.testing.assert_array_equal(sheet[y : y + side, x : x + side], expected)
    assert isinstance(pictures.FONT, ImageFont.FreeTypeFont)


def test_captions_give_the_score_as_the_file_holds_it():
    def score(value: float) -> str:
        return li.caption(li.Candidate("train", 1, 0, 3, value))[-1]

    assert (score(0.0002), score(0.3077), score(0.01)) == ("score  0.0002", "score  0.3077", "score  0.01")
    assert score(0.000234) == score(float(f"{0.000234:.{li.SCORE_DECIMALS}f}")) == "score  0.0002"
    # The file's 0.0000: below half its last decimal, not 0.
    assert score(0.0) == score(1.2e-05) == "score  < 5e-05"


def test_captions_tell_apart_every_score_that_the_file_tells_apart(rows):
    shown = collections.defaultdict(set)
    for c in li.read_candidates():
        shown[li.caption(c)[-1]].add(c.score)
    assert all(len(scores) == 1 for scores in shown.values()), shown


# Against the archives.


@pytest.mark.real
def test_given_labels_are_the_archives_labels(rows, official_arrays):
    for row in rows:
        assert int(row["label"]) == official_arrays[row["split"]][1][int(row["index"])], row


# The card and the doc.


def card_item() -> str:
    card = CARD.read_text(encoding="utf-8")
    item = card[card.index("- **Label issues: ") :]
    return " ".join(line.strip() for line in item[: item.index("\n\n")].splitlines())


def test_card_counts_recomputed_by_plain_python(rows):
    """The card's numbers, recounted from the file without the module's summaries."""
    item = card_item()
    for split, size in SIZES.items():
        count = sum(1 for row in rows if row["split"] == split)
        assert f" {count:,} of the {size:,} {split} labels" in item.replace("training labels", "train labels")
    pairs = collections.Counter((int(row["label"]), int(row["likely_label"])) for row in rows)
    (label, likely), _ = min(pairs.items(), key=lambda item: (-item[1], item[0]))
    test = sum(
        1 for row in rows if row["split"] == "test" and (int(row["label"]), int(row["likely_label"])) == (label, likely)
    )
    first = f"most often (given → likely) {fm.CLASS_NAMES[label]} → {fm.CLASS_NAMES[likely]} ({test:,} test, "
    assert first + f"{pairs[label, likely] - test:,} train)" in item


def test_card_words_them_as_candidates_and_links_the_doc_the_file_and_the_picture():
    item = card_item()
    assert "candidates for review, not corrections" in item
    for link in ("(label_issues.csv)", "(docs/label-issues.md)", "(images/label_issues.png)"):
        assert link in item
    assert re.search(r"\d+ of the top 30 test candidates", DOC.read_text(encoding="utf-8"))
