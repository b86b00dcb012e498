"""Label issues: the probabilities and candidates files, their picture, and the tables and card item that count them.

Needs neither PyTorch nor cleanlab: examples/find_label_issues.py finds the candidates and writes the files with it.
docs/label-issues.md explains the method and the numbers."""

import collections
import csv
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

# An example whose given `label` is likely wrong. `index`: its row in `split`, in archive order. `likely_label`: the
# models' most probable class. `score`: the probability they give the given label (low: likely wrong).
Candidate = collections.namedtuple("Candidate", "split index label likely_label score")
CSV_HEADER = ("split", "index", "label", "label_name", "likely_label", "likely_label_name", "given_label_probability")
SPLIT_ORDER = ("test", "train")
# The doc's table of the most common (given label, likely label) pairs, and the card's sentence.
COMMON_PAIRS_SHOWN = 8
CARD_PAIRS_SHOWN = 2
CARD_WIDTH = 120

# The picture: the candidates of each split with the lowest scores, SCALE times the archive's pixels.
SHOWN = {"test": 50, "train": 20}
SCALE = 3
PICTURE_COLUMNS = 10


def score_text(score: float) -> str:
    return f"{score:.6g}"  # enough digits that no two candidates of a split tie


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
        header, *rows = csv.reader(file)
    if tuple(header) != CSV_HEADER:
        raise ValueError(f"{path}: its columns are {header}, expected {list(CSV_HEADER)}")
    return [Candidate(split, int(i), int(label), int(likely), float(p)) for split, i, label, _, likely, _, p in rows]


def probabilities_bytes(labels: dict[str, np.ndarray], probabilities: dict[str, np.ndarray]) -> bytes:
    """The Parquet file of every example's out-of-sample probabilities, one row per example, test first, each split in
    archive order: `split`, `index`, the given `label`, then one float32 column per class, named by the class."""
    stacked = np.concatenate([probabilities[split] for split in SPLIT_ORDER]).astype(np.float32)
    columns = {
        "split": [split for split in SPLIT_ORDER for _ in labels[split]],
        "index": np.concatenate([np.arange(len(labels[split]), dtype=np.int32) for split in SPLIT_ORDER]),
        "label": np.concatenate([labels[split] for split in SPLIT_ORDER]).astype(np.int8),
        **{name: stacked[:, k] for k, name in enumerate(fm.CLASS_NAMES)},
    }
    out = pa.BufferOutputStream()
    # Byte-stream splitting, not dictionaries, for the floats: the file is two thirds of the size.
    options = {"use_dictionary": ["split"], "use_byte_stream_split": list(fm.CLASS_NAMES), "write_statistics": False}
    pq.write_table(pa.table(columns), out, compression="zstd", **options)
    return out.getvalue().to_pybytes()


def read_probabilities(path: Path = PROBABILITIES_FILE) -> tuple[dict, dict]:
    """What `probabilities_bytes` wrote, as (split -> the given labels, split -> the (n, 10) float32 probabilities)."""
    table = pq.read_table(path)
    if table.column_names != ["split", "index", "label", *fm.CLASS_NAMES]:
        raise ValueError(f"its columns are {table.column_names}")
    split, index, label = (table[name].to_numpy(zero_copy_only=False) for name in ("split", "index", "label"))
    stacked = np.stack([table[name].to_numpy() for name in fm.CLASS_NAMES], axis=1)
    labels, probabilities = {}, {}
    for name in SPLIT_ORDER:
        rows = split == name
        if not np.array_equal(index[rows], np.arange(rows.sum())):
            raise ValueError(f"its {name} rows are not indices 0, 1, 2, ... in order")
        labels[name], probabilities[name] = label[rows], stacked[rows]
    return labels, probabilities


def counts_table(candidates: list[Candidate], num_examples: dict[str, int]) -> str:
    found = collections.Counter(c.split for c in candidates)
    rows = [
        [split, f"{num_examples[split]:,}", f"{found[split]:,}", f"{100 * found[split] / num_examples[split]:.2f} %"]
        for split in SPLIT_ORDER
    ]
    return common.markdown_table(["split", "examples", "candidates", "share"], rows)


def common_pairs(candidates: list[Candidate], shown: int) -> list[tuple[str, str, str, str]]:
    """The `shown` most common (given label, likely label) pairs over both splits, by count, then labels: their class
    names and their counts in test and in train, as the card and the doc write them."""
    total = collections.Counter((c.label, c.likely_label) for c in candidates)
    count = collections.Counter((c.label, c.likely_label, c.split) for c in candidates)
    ranked = sorted(total, key=lambda pair: (-total[pair], pair))[:shown]
    names = fm.CLASS_NAMES
    return [
        (names[given], names[likely], f"{count[given, likely, 'test']:,}", f"{count[given, likely, 'train']:,}")
        for given, likely in ranked
    ]


def common_pairs_table(candidates: list[Candidate]) -> str:
    rows = common_pairs(candidates, COMMON_PAIRS_SHOWN)
    return common.markdown_table(["given label", "likely label", "test", "train"], rows)


def card_bullet(candidates: list[Candidate], num_examples: dict[str, int]) -> str:
    """The card's item of Other Known Limitations: the counts, the most common pairs, the links and the picture."""
    found = collections.Counter(c.split for c in candidates)
    (given, likely, test, train), *rest = common_pairs(candidates, CARD_PAIRS_SHOWN)
    pairs = [f"{given} → {likely} ({test} test, {train} train)"]
    pairs += [f"{given} → {likely} ({test}, {train})" for given, likely, test, train in rest]
    with open(REVIEW_FILE, newline="", encoding="utf-8") as file:
        verdicts = [row["verdict"] for row in csv.DictReader(file)]
    review = ", ".join(f"{verdicts.count(verdict)} {verdict}" for verdict in VERDICTS)
    text = (
        "**Label issues: candidates for review, not corrections.** Confident learning (`cleanlab`) on small CNNs' "
        "out-of-sample probabilities ([`label_probabilities.parquet`](label_probabilities.parquet)) flags "
        f"{found['test']:,} of the {num_examples['test']:,} test labels and {found['train']:,} of the "
        f"{num_examples['train']:,} training labels ([`label_issues.csv`](label_issues.csv)); most often (given → "
        f"likely) {', '.join(pairs)}. One reviewer ([`label_review.csv`](label_review.csv)), on the {len(verdicts)} "
        f"lowest-scored test candidates: {review}. More: [Label issues](docs/label-issues.md)."
    )
    # A class name stays on one line: "T - shirt / top" cut after "T" would start a nested list with "- shirt".
    for name in fm.CLASS_NAMES:
        text = text.replace(name, name.replace(" ", "\0"))
    lines = textwrap.wrap(text, CARD_WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False)
    picture = "![Test and training images whose label is most likely wrong: index, given and likely label, probability]"
    return "\n".join([*lines, f"  {picture}(images/label_issues.png)"]).replace("\0", " ")


def picture_bytes(splits: dict, candidates: list[Candidate]) -> bytes:
    """The candidates of each split with the lowest scores: image, split and index, given and likely label, score."""
    sections = []
    for split in SPLIT_ORDER:
        ranked = sorted((c for c in candidates if c.split == split), key=sort_key)
        title = f"{split}: the {len(ranked[: SHOWN[split]])} lowest scores of {len(ranked):,} candidates"
        title += " (pixels at 0 shown grey)" * (split == SPLIT_ORDER[0])
        sections.append((title, [([splits[split][0][c.index]], caption(c)) for c in ranked[: SHOWN[split]]]))
    widest = max(pictures.FONT.getlength(line) for _, cells in sections for _, lines in cells for line in lines)
    cell_width = max(SCALE * fm.IMAGE_SIDE, int(widest)) + pictures.GAP
    return pictures.png_bytes(pictures.sheet(sections, PICTURE_COLUMNS, cell_width, SCALE, pictures.GREY))


def caption(c: Candidate) -> list[str]:
    given, likely = fm.CLASS_NAMES[c.label], fm.CLASS_NAMES[c.likely_label]
    # The score as the file holds it: the same picture from the file as from the run that wrote it.
    return [f"{c.split} {c.index}", f"given  {given}", f"likely  {likely}", f"p(given)  {score_text(c.score)}"]
