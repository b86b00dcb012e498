"""Label issues: the shipped probabilities, candidates and review files, the picture and the card's counts, against
each other and the official archives.

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
SCORE = "given_label_probability"
VERDICTS = li.VERDICTS


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return read_csv(li.ISSUES_FILE)


@pytest.fixture(scope="module")
def probabilities() -> tuple[dict, dict]:
    return li.read_probabilities()


# The file on its own.


def test_file_has_the_documented_columns_and_both_splits(rows):
    assert li.ISSUES_FILE.read_text(encoding="utf-8").splitlines()[0] == ",".join(li.CSV_HEADER)
    assert {row["split"] for row in rows} == {"test", "train"}


def test_file_is_sorted_by_split_then_score_then_index(rows):
    keys = [(li.SPLIT_ORDER.index(row["split"]), float(row[SCORE]), int(row["index"])) for row in rows]
    assert keys == sorted(keys)


def test_no_two_candidates_of_a_split_tie_so_the_order_is_the_scores(rows):
    for split in li.SPLIT_ORDER:
        scores = [row[SCORE] for row in rows if row["split"] == split]
        assert len(set(scores)) == len(scores), split


def test_each_example_occurs_once_with_a_valid_index_and_two_different_labels(rows):
    assert len({(row["split"], row["index"]) for row in rows}) == len(rows)
    for row in rows:
        assert 0 <= int(row["index"]) < SIZES[row["split"]], row
        assert {int(row["label"]), int(row["likely_label"])} <= set(range(len(fm.CLASS_NAMES))), row
        assert row["label"] != row["likely_label"], row
        assert (row["label_name"], row["likely_label_name"]) == tuple(
            fm.CLASS_NAMES[int(row[key])] for key in ("label", "likely_label")
        )
        assert 0 <= float(row[SCORE]) <= 1, row


# The probabilities, and the candidates recomputed from them.


def test_probabilities_are_one_row_per_example_summing_to_one(probabilities):
    _, found = probabilities
    assert {split: array.shape for split, array in found.items()} == {s: (n, 10) for s, n in SIZES.items()}
    for array in found.values():
        assert array.dtype == np.float32 and array.min() >= 0
        np.testing.assert_allclose(array.sum(axis=1), 1, atol=1e-5)


def test_candidates_are_the_examples_whose_probabilities_contradict_their_label(rows, probabilities):
    labels, found = probabilities
    for row in rows:
        p = found[row["split"]][int(row["index"])]
        assert int(row["label"]) == labels[row["split"]][int(row["index"])], row
        assert int(row["likely_label"]) == p.argmax(), row
        assert row[SCORE] == li.score_text(p[int(row["label"])]), row
    for split in li.SPLIT_ORDER:  # a candidate's given label is not the one the models find most likely
        disagree = int((found[split].argmax(1) != labels[split]).sum())
        assert sum(row["split"] == split for row in rows) <= disagree


def test_models_are_at_least_93_percent_accurate_on_examples_they_did_not_see(probabilities):
    labels, found = probabilities
    accuracy = {split: (found[split].argmax(1) == labels[split]).mean() for split in li.SPLIT_ORDER}
    assert min(accuracy.values()) >= 0.93, accuracy
    doc = " ".join(DOC.read_text(encoding="utf-8").split())
    assert f"**{100 * accuracy['train']:.2f} %** (out of sample, all 60,000)" in doc
    assert f"**{100 * accuracy['test']:.2f} %** (mean of the 3 models' probabilities)" in doc


def test_file_round_trips_through_the_module(rows):
    assert li.csv_text(li.read_candidates()) == li.ISSUES_FILE.read_text(encoding="utf-8")


def test_the_export_ships_the_files_the_picture_and_the_doc():
    shipped = {"label_issues.csv", "label_probabilities.parquet", "label_review.csv", "images/label_issues.png"}
    assert shipped | {"docs/label-issues.md"} <= set(layout.CARD_FILES)


# The picture.


def test_picture_shows_pixels_at_0_grey_so_that_dark_garments_stand_out():
    images = np.random.default_rng(0).integers(0, 60, size=(5, 28, 28), dtype=np.uint8)  # a dark garment's grey levels
    images[:, :, :9] = 0
    splits = {split: (images, np.zeros(5, np.uint8)) for split in li.SPLIT_ORDER}
    candidates = [li.Candidate("test", 2, 0, 3, 0.01), li.Candidate("train", 4, 1, 2, 1e-7)]
    sheet = np.asarray(Image.open(io.BytesIO(li.picture_bytes(splits, candidates))))
    assert sheet[0, 0] == pictures.GREY
    x, y = pictures.GAP, pictures.GAP + pictures.LINE + pictures.GAP // 2  # the first section's first tile
    side = li.SCALE * fm.IMAGE_SIDE
    expected = np.where(images[2] == 0, pictures.GREY, images[2]).repeat(li.SCALE, axis=0).repeat(li.SCALE, axis=1)
    np.testing.assert_array_equal(sheet[y : y + side, x : x + side], expected)
    assert isinstance(pictures.FONT, ImageFont.FreeTypeFont)


def test_captions_give_the_score_as_the_file_holds_it(rows):
    for c, row in zip(li.read_candidates(), rows, strict=True):
        assert li.caption(c)[-1] == f"p(given)  {row[SCORE]}"


# Against the archives.


@pytest.mark.real
def test_given_labels_are_the_archives_labels(rows, probabilities, official_arrays):
    for row in rows:
        assert int(row["label"]) == official_arrays[row["split"]][1][int(row["index"])], row
    for split, labels in probabilities[0].items():
        np.testing.assert_array_equal(labels, official_arrays[split][1])


@pytest.mark.real
def test_card_names_the_labels_of_the_training_images_that_show_a_person(official_arrays):
    card = " ".join(CARD.read_text(encoding="utf-8").split())
    found = re.findall(r"(\d+) \(labelled (\w+)\)", card[card.index("training images 36325") :][:200])
    assert [index for index, _ in found] == ["36325", "39139"]
    for index, name in found:
        assert fm.CLASS_NAMES[official_arrays["train"][1][int(index)]] == name


# The review of the top test candidates.


def test_review_sheet_has_one_verdict_for_each_of_the_top_test_candidates_in_order(rows):
    review = read_csv(li.REVIEW_FILE)
    top = [row for row in rows if row["split"] == "test"][: len(review)]
    assert len(review) >= 50
    keys = ("split", "index", "label_name", "likely_label_name", SCORE)
    assert [tuple(r[k] for k in keys) for r in review] == [tuple(r[k] for k in keys) for r in top]
    assert all(r["verdict"] in VERDICTS and r["what_the_image_shows"].strip() for r in review)


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
    for link in ("(label_issues.csv)", "(label_probabilities.parquet)", "(docs/label-issues.md)"):
        assert link in item
    assert "(images/label_issues.png)" in item


def test_doc_and_card_quote_the_review_counts_of_the_sheet():
    review = read_csv(li.REVIEW_FILE)
    counts = collections.Counter(r["verdict"] for r in review)
    sentence = ", ".join(f"{counts[verdict]} {verdict}" for verdict in VERDICTS)
    expected = f"the {len(review)} lowest-scored test candidates: {sentence}"
    assert expected in " ".join(DOC.read_text(encoding="utf-8").split())
    assert expected in card_item()
