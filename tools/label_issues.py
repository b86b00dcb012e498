"""Label issues: the out-of-sample probabilities file, the candidates file, its picture and the card's counts.

examples/find_label_issues.py trains the models and finds the candidates (it needs PyTorch and cleanlab) and writes
the files through this module; this module needs neither, so the tests of the main environment check the shipped
files against each other and the archives, redraw the picture and recount the card. docs/label-issues.md explains
the method and the numbers.
"""

import collections
import csv
import dataclasses
import io
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import fashion_mnist as fm
from tools import common, pictures

ISSUES_FILE = common.REPO / "label_issues.csv"
PROBABILITIES_FILE = common.REPO / "label_probabilities.parquet"
# One person's verdict on each of the lowest-scored test candidates (docs/label-issues.md gives the criteria).
REVIEW_FILE = common.REPO / "label_review.csv"
VERDICTS = ("clearly wrong", "ambiguous", "label right")
PICTURE = common.REPO / "images" / "label_issues.png"

# `given_label_probability` is the candidate's score: the out-of-sample probability of its given label (low: likely
# wrong); written with SCORE_DIGITS significant digits, enough that no two candidates of a split tie.
CSV_HEADER = ("split", "index", "label", "label_name", "likely_label", "likely_label_name", "given_label_probability")
SPLIT_ORDER = ("test", "train")
SCORE_DIGITS = 6
# The doc's table of the most common (given label, likely label) pairs, and the card's sentence.
COMMON_PAIRS_SHOWN = 8
CARD_PAIRS_SHOWN = 2
CARD_WIDTH = 120

# The picture: the candidates of each split with the lowest scores, SCALE times the archive's pixels.
SHOWN = {"test": 50, "train": 20}
SCALE = 3
PICTURE_COLUMNS = 10


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One example whose given label is likely wrong: its `split` and `index` (row in that split, in the
    archives' order), the given `label`, the `likely_label` (the model's most probable class) and `score`, the
    probability that the models give the given label (low: likely wrong)."""

    split: str
    index: int
    label: int
    likely_label: int
    score: float


def score_text(score: float) -> str:
    return f"{score:.{SCORE_DIGITS}g}"


def sort_key(candidate: Candidate) -> tuple:
    # By the score as the file writes it, so that the file reads sorted.
    return SPLIT_ORDER.index(candidate.split), float(score_text(candidate.score)), candidate.index


def csv_text(candidates: list[Candidate]) -> str:
    """The file's text: a header, then one line per candidate, by split (test first), score, index."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for c in sorted(candidates, key=sort_key):
        names = fm.CLASS_NAMES[c.label], fm.CLASS_NAMES[c.likely_label]
        writer.writerow([c.split, c.index, c.label, names[0], c.likely_label, names[1], score_text(c.score)])
    return out.getvalue()


def read_candidates(path: Path = ISSUES_FILE) -> list[Candidate]:
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        Candidate(
            row["split"], int(row["index"]), int(row["label"]), int(row["likely_label"]), float(row[CSV_HEADER[-1]])
        )
        for row in rows
    ]


# The probabilities file: one row per example, test first, each split in the archives' order.


def probabilities_bytes(labels: dict[str, np.ndarray], probabilities: dict[str, np.ndarray]) -> bytes:
    """The Parquet file of every example's out-of-sample probabilities: `split`, `index`, the given `label`, then one
    float32 column per class, named by the class."""
    columns = {"split": [], "index": [], "label": []}
    for split in SPLIT_ORDER:
        columns["split"] += [split] * len(labels[split])
        columns["index"].append(np.arange(len(labels[split]), dtype=np.int32))
        columns["label"].append(labels[split].astype(np.int8))
    columns["index"], columns["label"] = np.concatenate(columns["index"]), np.concatenate(columns["label"])
    stacked = np.concatenate([probabilities[split] for split in SPLIT_ORDER]).astype(np.float32)
    columns.update({name: stacked[:, k] for k, name in enumerate(fm.CLASS_NAMES)})
    out = pa.BufferOutputStream()
    # Byte-stream splitting, not dictionaries, for the floats: the file is two thirds of the size.
    options = {"use_dictionary": ["split"], "use_byte_stream_split": list(fm.CLASS_NAMES), "write_statistics": False}
    pq.write_table(pa.table(columns), out, compression="zstd", **options)
    return out.getvalue().to_pybytes()


def read_probabilities(path: Path = PROBABILITIES_FILE) -> tuple[dict, dict]:
    """(labels, probabilities): split -> the given labels, and split -> the (n, 10) float32 probabilities, as
    `probabilities_bytes` wrote them."""
    table = pq.read_table(path)
    if table.column_names != ["split", "index", "label", *fm.CLASS_NAMES]:
        raise ValueError(f"its columns are {table.column_names}")
    split = table["split"].to_numpy(zero_copy_only=False)
    stacked = np.stack([table[name].to_numpy() for name in fm.CLASS_NAMES], axis=1)
    labels, probabilities = {}, {}
    for name in SPLIT_ORDER:
        rows = split == name
        if not np.array_equal(table["index"].to_numpy()[rows], np.arange(rows.sum())):
            raise ValueError(f"its {name} rows are not indices 0, 1, 2, ... in order")
        labels[name], probabilities[name] = table["label"].to_numpy()[rows], stacked[rows]
    return labels, probabilities


# The card's counts.


def counts_table(candidates: list[Candidate], num_examples: dict[str, int]) -> str:
    """Per split: examples, candidates, and their share."""
    found = collections.Counter(c.split for c in candidates)
    rows = [
        [split, f"{num_examples[split]:,}", f"{found[split]:,}", f"{100 * found[split] / num_examples[split]:.2f} %"]
        for split in SPLIT_ORDER
    ]
    return common.markdown_table(["split", "examples", "candidates", "share"], rows)


def common_pairs(candidates: list[Candidate], shown: int) -> list[tuple[int, int, int, int]]:
    """(given label, likely label, test count, train count) of the `shown` most common pairs over both splits,
    by count, then label."""
    by_split = {split: collections.Counter() for split in SPLIT_ORDER}
    for c in candidates:
        by_split[c.split][c.label, c.likely_label] += 1
    total = by_split["test"] + by_split["train"]
    ranked = sorted(total, key=lambda pair: (-total[pair], pair))[:shown]
    return [
        (label, likely, by_split["test"][label, likely], by_split["train"][label, likely]) for label, likely in ranked
    ]


def common_pairs_table(candidates: list[Candidate]) -> str:
    """The most common (given label, likely label) pairs over both splits, with the count in each split."""
    rows = [
        [fm.CLASS_NAMES[label], fm.CLASS_NAMES[likely], f"{test:,}", f"{train:,}"]
        for label, likely, test, train in common_pairs(candidates, COMMON_PAIRS_SHOWN)
    ]
    return common.markdown_table(["given label", "likely label", "test", "train"], rows)


def card_bullet(candidates: list[Candidate], num_examples: dict[str, int]) -> str:
    """The card's item of Other Known Limitations: the counts, the most common pairs, the links and the picture."""
    found = collections.Counter(c.split for c in candidates)
    pairs = common_pairs(candidates, CARD_PAIRS_SHOWN)
    (label, likely, test, train), rest = pairs[0], pairs[1:]
    most_common = f"{fm.CLASS_NAMES[label]} → {fm.CLASS_NAMES[likely]} ({test:,} test, {train:,} train)"
    for label, likely, test, train in rest:
        most_common += f", {fm.CLASS_NAMES[label]} → {fm.CLASS_NAMES[likely]} ({test:,}, {train:,})"
    with open(REVIEW_FILE, newline="", encoding="utf-8") as file:
        verdicts = [row["verdict"] for row in csv.DictReader(file)]
    review = ", ".join(f"{verdicts.count(verdict)} {verdict}" for verdict in VERDICTS)
    text = (
        "**Label issues: candidates for review, not corrections.** Confident learning (`cleanlab`) on small CNNs' "
        "out-of-sample probabilities ([`label_probabilities.parquet`](label_probabilities.parquet)) flags "
        f"{found['test']:,} of the {num_examples['test']:,} test labels and {found['train']:,} of the "
        f"{num_examples['train']:,} training labels ([`label_issues.csv`](label_issues.csv)); most often (given → "
        f"likely) {most_common}. One reviewer ([`label_review.csv`](label_review.csv)), on the {len(verdicts)} "
        f"lowest-scored test candidates: {review}. More: [Label issues](docs/label-issues.md)."
    )
    # Class names are not split across lines.
    for name in fm.CLASS_NAMES:
        text = text.replace(name, name.replace(" ", "\0"))
    lines = textwrap.wrap(text, CARD_WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False)
    lines = [line.replace("\0", " ") for line in lines]
    picture = "![Test and training images whose label is most likely wrong: index, given and likely label, probability]"
    return "\n".join([*lines, f"  {picture}(images/label_issues.png)"])


# The picture.


def picture_bytes(splits: dict, candidates: list[Candidate]) -> bytes:
    """The lowest scores of each split: each candidate's image from the archives, with split and index, given label,
    likely label and score."""
    sections = []
    for split in SPLIT_ORDER:
        ranked = sorted((c for c in candidates if c.split == split), key=sort_key)
        title = f"{split}: the {len(ranked[: SHOWN[split]])} lowest scores of {len(ranked):,} candidates"
        title += " (pixels at 0 shown grey)" * (split == SPLIT_ORDER[0])
        sections.append((title, [([splits[split][0][c.index]], caption(c)) for c in ranked[: SHOWN[split]]]))
    text_width = max(
        int(pictures.FONT.getlength(line)) for _, cells in sections for _, lines in cells for line in lines
    )
    cell_width = max(SCALE * fm.IMAGE_SIDE, text_width) + pictures.GAP
    return pictures.png_bytes(pictures.sheet(sections, PICTURE_COLUMNS, cell_width, SCALE, pictures.GREY))


def caption(c: Candidate) -> list[str]:
    given, likely = fm.CLASS_NAMES[c.label], fm.CLASS_NAMES[c.likely_label]
    # The score as the file holds it: the same picture from the file as from the run that wrote it.
    return [f"{c.split} {c.index}", f"given  {given}", f"likely  {likely}", f"p(given)  {score_text(c.score)}"]
