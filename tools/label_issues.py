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

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import fashion_mnist as fm
from tools import common

ISSUES_FILE = common.REPO / "label_issues.csv"
PICTURE = common.REPO / "images" / "label_issues.png"

CSV_HEADER = ("split", "index", "label", "likely_label", "score")
SPLIT_ORDER = ("test", "train")
SCORE_DECIMALS = 4
# The doc's table of the most common (given label, likely label) pairs, and the card's sentence.
COMMON_PAIRS_SHOWN = 8
CARD_PAIRS_SHOWN = 3
CARD_WIDTH = 120

# The picture: the top candidates of each split, PICTURE_SCALE times the archive's pixels, captions in Pillow's
# bitmap font.
SHOWN = {"test": 30, "train": 20}
PICTURE_SCALE = 3
PICTURE_COLUMNS = 10
GAP = 12
LINE = 12
CAPTION_LINES = 4
BACKGROUND = 0
TEXT = 255


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
    rows = []
    for split in SPLIT_ORDER:
        found = sum(c.split == split for c in candidates)
        rows.append([split, f"{num_examples[split]:,}", f"{found:,}", f"{100 * found / num_examples[split]:.2f} %"])
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


def common_pairs_table(candidates: list[Candidate], shown: int = COMMON_PAIRS_SHOWN) -> str:
    """The most common (given label, likely label) pairs over both splits, with the count in each split."""
    rows = [
        [fm.CLASS_NAMES[label], fm.CLASS_NAMES[likely], f"{test:,}", f"{train:,}"]
        for label, likely, test, train in common_pairs(candidates, shown)
    ]
    return common.markdown_table(["given label", "likely label", "test", "train"], rows)


def card_bullet(candidates: list[Candidate], num_examples: dict[str, int]) -> str:
    """The card's item of Other Known Limitations: the counts, the most common pairs, the links and the picture."""
    found = {split: sum(c.split == split for c in candidates) for split in SPLIT_ORDER}
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


def _caption(c: Candidate) -> list[str]:
    given, likely = fm.CLASS_NAMES[c.label], fm.CLASS_NAMES[c.likely_label]
    return [f"{c.split} {c.index}", f"given  {given}", f"likely {likely}", f"score  {c.score:.{SCORE_DECIMALS}f}"]


def picture_sections(candidates: list[Candidate]) -> list[tuple[str, list[Candidate]]]:
    """(title, candidates) of each block of the picture: the lowest scores of each split."""
    sections = []
    for split in SPLIT_ORDER:
        ranked = sorted((c for c in candidates if c.split == split), key=sort_key)
        shown = ranked[: SHOWN[split]]
        sections.append((f"{split}: the {len(shown)} lowest scores of {len(ranked):,} candidates", shown))
    return sections


def draw_picture(splits: dict[str, tuple[np.ndarray, np.ndarray]], candidates: list[Candidate]) -> Image.Image:
    """Each candidate's image from the archives, with split and index, given label, likely label and score."""
    side = fm.IMAGE_SIDE * PICTURE_SCALE
    font = ImageFont.load_default_imagefont()  # Pillow's bitmap font: no FreeType, same pixels everywhere
    sections = picture_sections(candidates)
    cell_height = side + CAPTION_LINES * LINE + GAP
    cell_width = max(side, *(int(font.getlength(f"likely {name}")) for name in fm.CLASS_NAMES)) + GAP
    height = GAP + sum(LINE + GAP // 2 + -(-len(shown) // PICTURE_COLUMNS) * cell_height for _, shown in sections)
    width = GAP + PICTURE_COLUMNS * cell_width
    canvas = Image.new("L", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    y = GAP
    for title, shown in sections:
        pen.text((GAP, y), title, fill=TEXT, font=font)
        y += LINE + GAP // 2
        for k, c in enumerate(shown):
            x = GAP + (k % PICTURE_COLUMNS) * cell_width
            top = y + (k // PICTURE_COLUMNS) * cell_height
            tile = Image.fromarray(splits[c.split][0][c.index], "L").resize((side, side), Image.Resampling.NEAREST)
            canvas.paste(tile, (x, top))
            for line, text in enumerate(_caption(c)):
                pen.text((x, top + side + 2 + line * LINE), text, fill=TEXT, font=font)
        y += -(-len(shown) // PICTURE_COLUMNS) * cell_height
    return canvas


def picture_bytes(splits: dict, candidates: list[Candidate]) -> bytes:
    buffer = io.BytesIO()
    draw_picture(splits, candidates).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
