"""What an export folder holds: the files, their names and the card's `configs`. Shared by the tools that write an
export (tools.export) and check one (tools.verify)."""

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

DATA_FOLDER = "fashion_mnist"
# The folder of each config's Parquet files: the default config's PNG images, and the `arrays` config's uint8 arrays.
DATA_FOLDERS = {"fashion_mnist": DATA_FOLDER, "arrays": "arrays"}
SPLITS = ("train", "test")
# Parallel streaming (docs/streaming.md): a streamed split has one shard per file, and with datasets 5
# `reshard()` one per row group. 8 files give 1, 2, 4 or 8 readers equal parts on any datasets version;
# row groups of 500 rows make 15 per train file, 120 shards in all, which 1-6 and 8 readers divide evenly.
FILES_PER_SPLIT = 8
ROW_GROUP_SIZE = 500
# Rows per row group of the arrays config, whose rows are small: each row group is one opening of its file when a
# stream is resharded, which costs the training pipeline more than reading the pixels (docs/streaming.md).
ARRAYS_ROW_GROUP_SIZE = 2500
# The card's `configs`: each config's splits are the Parquet files in its folder; `fashion_mnist` is the default.
CONFIGS = [
    {
        "config_name": name,
        "data_files": [{"split": split, "path": f"{folder}/{split}-*"} for split in SPLITS],
        **({"default": True} if name == DATA_FOLDER else {}),
    }
    for name, folder in DATA_FOLDERS.items()
]
# Repository files that the card links to, copied beside it into the exported folder (and so to the Hub).
CARD_FILES = (
    "images/examples.png",
    "images/near_duplicates.png",
    "near_duplicates.csv",
    "docs/near-duplicates.md",
    "images/label_issues.png",
    "label_issues.csv",
    "label_probabilities.parquet",
    "label_review.csv",
    "docs/label-issues.md",
    "docs/benchmark.md",
    "docs/development.md",
    "docs/faults.md",
    "docs/training.md",
    "docs/streaming.md",
)
# The files of an export besides its Parquet files.
TEXT_FILES = ("README.md", *CARD_FILES)
SAMPLE_WARNING = (
    "> **Sample build.** This folder was built from the bundled sample archives (dummy/), not from the "
    "official ones: its splits are tiny and the statistics below describe the full dataset, not these "
    "files. Do not publish it."
)
# A hidden file that tools.export writes in every export folder: the files it wrote there, which is how it knows the
# folder as its own. It is never published, and tools.verify ignores it.
MANIFEST = ".tools-export.json"
# A Parquet file's name ends with the start of its SHA-256: a new export with other content has other names, so
# that a reader that listed the files of the one it started with gets an error, never rows of both.
PARQUET_NAME = re.compile(r"(train|test)-(\d{5})-of-(\d{5})-([0-9a-f]{16})\.parquet")


def parquet_name(split: str, index: int, data: bytes) -> str:
    """The name of part `index` of a split's Parquet files, whose bytes are `data`."""
    return f"{split}-{index:05d}-of-{FILES_PER_SPLIT:05d}-{hashlib.sha256(data).hexdigest()[:16]}.parquet"


def parquet_files(folder: Path, config: str, split: str) -> list[Path]:
    """The Parquet files of a split of `config` in the export `folder`, in order: every file that the card's
    data_files pattern matches, as `load_dataset` reads them."""
    return sorted(path for path in (Path(folder) / DATA_FOLDERS[config]).glob(f"{split}-*") if path.is_file())


def foreign_entries(folder: Path, owned: set[str]):
    """Each entry of `folder` that is not one of the `owned` regular files or a folder holding them, in sorted
    order, without following symbolic links: folders end with "/" and are not entered."""
    folders = {parent.as_posix() for name in owned for parent in PurePosixPath(name).parents} - {"."}
    for root, dirs, files in os.walk(folder):
        relative_root = PurePosixPath(Path(root).relative_to(folder).as_posix())
        entered = []
        for name in sorted(dirs + files):
            path, relative = Path(root) / name, (relative_root / name).as_posix().removeprefix("./")
            if path.is_symlink():
                yield f"{relative} (a symbolic link)"
            elif name in dirs and relative not in folders:
                yield f"{relative}/"
            elif name in dirs:
                entered.append(name)
            elif relative not in owned or not path.is_file():
                yield relative
        dirs[:] = entered
