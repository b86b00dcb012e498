"""Label issues: the candidates file, its picture and the card's counts, from label_issues.csv and the archives.

examples/find_label_issues.py finds the candidates (it needs PyTorch and cleanlab) and writes both files through
this module; this module needs neither, so the tests of the main environment redraw the picture and recount the
card from the shipped file. docs/label-issues.md explains the method and the numbers.
"""

import collections
import csv
import dataclasses
import io
import textwrap
from pathlib import Path

import fashion_mnist as fm
from tools import common, pictures

ISSUES_FILE = common.REPO / "label_issues.csv"
PICTURE = common.REPO / "images" / "label_issues.png"

CSV_HEADER = ("split", "index", "label", "likely_label", "score")
SPLIT_ORDER = ("test", "train")
SCORE_DECIMALS = 4
# The doc's table of the most common (given label, likely label) pairs, and the card's sentence.
COMMON_PAIRS_SHOWN = 8
CARD_PAIRS_SHOWN = 3
CARD_WIDTH = 120

# The picture: the candidates of each split with the lowest scores, SCALE times the archive's pixels.
SHOWN = {"test": 30, "train": 20}
SCALE = 3
PICTURE_COLUMNS = 10


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One example whose given label is likely wrong: its `split` and `index` (row in that split, in the
    archives' order), the given `label`, the `likely_label` (the model's most probable class) and `score`, the
    label quality score (low: likely wrong)."""

    split: str
    index: int
    label: int
    likely_label: int
    score: float


def sort_key(candidate: Candidate) -> tuple:
    # By the score as the file writes it, so that the file reads sorted.
    return SPLIT_ORDER.index(candidate.split), round(candidate.score, SCORE_DECIMALS), candidate.index


def csv_text(candidates: list[Candidate]) -> str:
    """The file's text: a header, then one line per candidate, by split (test first), score, index."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for c in sorted(candidates, key=sort_key):
        writer.writerow([c.split, c.index, c.label, c.likely_label, f"{c.score:.{SCORE_DECIMALS}f}"])
    return out.getvalue()


def read_candidates(path: Path = ISSUES_FILE) -> list[Candidate]:
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        Candidate(row["split"], int(row["index"]), int(row["label"]), int(row["likely_label"]), float(row["score"]))
        for row in rows
    ]


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
    text = (
        "**Label issues: candidates for review, not corrections.** Confident learning (`cleanlab`) on a small CNN's "
        f"out-of-sample predictions flags {found['test']:,} of the {num_examples['test']:,} test labels and "
        f"{found['train']:,} of the {num_examples['train']:,} training labels "
        "([`label_issues.csv`](label_issues.csv)); "
        f"most often (given → likely) {most_common}. Method, checks, evaluating without them: "
        "[Label issues](docs/label-issues.md)."
    )
    # Class names are not split across lines.
    for name in fm.CLASS_NAMES:
        text = text.replace(name, name.replace(" ", "\0"))
    lines = textwrap.wrap(text, CARD_WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False)
    lines = [line.replace("\0", " ") for line in lines]
    picture = "![Test and training images whose label is most likely wrong: index, given and likely label, score]"
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
    names_width = max(int(pictures.FONT.getlength(f"likely  {name}")) for name in fm.CLASS_NAMES)
    cell_width = max(SCALE * fm.IMAGE_SIDE, names_width) + pictures.GAP
    return pictures.png_bytes(pictures.sheet(sections, PICTURE_COLUMNS, cell_width, SCALE, pictures.GREY))


def caption(c: Candidate) -> list[str]:
    given, likely = fm.CLASS_NAMES[c.label], fm.CLASS_NAMES[c.likely_label]
    # The score as the file holds it (the same picture from the file as from the run that wrote it), without trailing
    # zeros; a score that the file rounds to 0 is below half its last decimal.
    rounded = round(c.score, SCORE_DECIMALS)
    score = f"{rounded:.4g}" if rounded else f"< {0.5 * 10**-SCORE_DECIMALS:g}"
    return [f"{c.split} {c.index}", f"given  {given}", f"likely  {likely}", f"score  {score}"]
