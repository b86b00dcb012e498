"""Label issues: the shipped candidates file, its picture and the card's counts, against the official archives.

Finding the candidates needs PyTorch and cleanlab: examples/test_find_label_issues.py tests that part."""

import collections
import csv
import hashlib
import re

import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays
from tests.fixtures import REPO
from tools import label_issues as li
from tools import layout

CARD = REPO / "README.md"
DOC = REPO / "docs" / "label-issues.md"
SIZES = {split.split: split.num_examples for split in fm.OFFICIAL_SPLITS}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with open(li.ISSUES_FILE, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def official_splits(official_dir):
    """Split -> (images, labels), read with the tests' own IDX reader after checking the digests."""
    for split in fm.OFFICIAL_SPLITS:
        for archive in (split.images, split.labels):
            assert hashlib.sha256((official_dir / archive.filename).read_bytes()).hexdigest() == archive.sha256
    return {split.split: archive_arrays(official_dir, split.split) for split in fm.OFFICIAL_SPLITS}


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


# Against the archives.


@pytest.mark.real
def test_given_labels_are_the_archives_labels(rows, official_splits):
    for row in rows:
        assert int(row["label"]) == official_splits[row["split"]][1][int(row["index"])], row


@pytest.mark.real
def test_picture_is_regenerated_byte_for_byte(official_splits):
    assert li.picture_bytes(official_splits, li.read_candidates()) == li.PICTURE.read_bytes(), (
        "images/label_issues.png is stale: run examples/find_label_issues.py --reuse (docs/label-issues.md)"
    )


# The card and the doc.


def test_card_and_doc_tables_are_the_files_counts():
    candidates = li.read_candidates()
    tables = [li.counts_table(candidates, SIZES), li.common_pairs_table(candidates)]
    for document in (CARD, DOC):
        text = document.read_text(encoding="utf-8")
        for table in tables:
            assert table in text, f"{document.name} should hold:\n{table}"


def test_card_counts_recomputed_by_plain_python(rows):
    """The card's numbers, recounted from the file without the module's summaries."""
    card = CARD.read_text(encoding="utf-8")
    per_split = collections.Counter(row["split"] for row in rows)
    for split, size in SIZES.items():
        share = f"{100 * per_split[split] / size:.2f} %"
        assert f"| {split} | {size:,} | {per_split[split]:,} | {share} |" in card
    pairs = collections.Counter((int(row["label"]), int(row["likely_label"])) for row in rows)
    (label, likely), _ = max(pairs.items(), key=lambda item: (item[1], [-k for k in item[0]]))
    test_count = sum(
        1 for row in rows if row["split"] == "test" and (int(row["label"]), int(row["likely_label"])) == (label, likely)
    )
    train_count = pairs[label, likely] - test_count
    first_row = f"| {fm.CLASS_NAMES[label]} | {fm.CLASS_NAMES[likely]} | {test_count:,} | {train_count:,} |"
    table = card[card.index("| given label | likely label | test | train |") :]
    assert table.splitlines()[2] == first_row


def test_card_words_them_as_candidates_and_links_the_doc_and_the_file():
    card = CARD.read_text(encoding="utf-8")
    section = card[card.index("### Label issues") :]
    section = section[: section.index("\n## ")]
    assert "candidates for review" in section
    assert "not corrections" in section
    for link in ("(label_issues.csv)", "(docs/label-issues.md)", "(images/label_issues.png)"):
        assert link in section
    assert re.search(r"\d+ of the top 30 test candidates", DOC.read_text(encoding="utf-8"))
