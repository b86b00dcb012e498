"""What an export folder holds: the files, their names and the card's `configs`. Shared by tools.export, which
writes the folder, and tools.verify, which checks one."""

import os
from pathlib import Path, PurePosixPath

DATA_FOLDER = "fashion_mnist"
# The folder of each config's Parquet files: the default config's PNG images, and the `arrays` config's uint8 arrays.
DATA_FOLDERS = {"fashion_mnist": DATA_FOLDER, "arrays": "arrays"}
# Parallel streaming (docs/streaming.md): a streamed split has one shard per file, and with datasets 5
# `reshard()` one per row group. 8 files give 1, 2, 4 or 8 readers equal parts on any datasets version;
# row groups of 500 rows make 15 per train file, 120 shards in all, which 1-6 and 8 readers divide evenly.
FILES_PER_SPLIT = 8
ROW_GROUP_SIZE = 500
# The card's `configs`: each config's splits are the Parquet files in its folder; `fashion_mnist` is the default.
CONFIGS = [
    {
        "config_name": name,
        "data_files": [{"split": split, "path": f"{folder}/{split}-*"} for split in ("train", "test")],
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
    "docs/label-issues.md",
    "docs/benchmark.md",
    "docs/development.md",
    "docs/faults.md",
    "docs/training.md",
    "docs/streaming.md",
)
SAMPLE_WARNING = (
    "> **Sample build.** This folder was built from the bundled sample archives (dummy/), not from the "
    "official ones: its splits are tiny and the statistics below describe the full dataset, not these "
    "files. Do not publish it."
)


def parquet_file_names(split_name: str) -> list[str]:
    """The Hub's names for the files of a split: train-00000-of-00008.parquet and so on."""
    return [f"{split_name}-{index:05d}-of-{FILES_PER_SPLIT:05d}.parquet" for index in range(FILES_PER_SPLIT)]


def export_files() -> list[str]:
    """Every file an export writes, as paths relative to its folder, sorted: the card, the files it links to,
    and the Parquet files of both splits of each config."""
    parquet = [
        f"{folder}/{name}"
        for folder in DATA_FOLDERS.values()
        for split in ("train", "test")
        for name in parquet_file_names(split)
    ]
    return sorted(["README.md", *CARD_FILES, *parquet])


# A hidden file that tools.export writes in every export folder: the files it wrote there. It is how the tool
# knows a folder as its own (and may replace it); it is never published, and a check of the folder ignores it.
EXPORT_MANIFEST = ".tools-export.json"


def owned_folders(files) -> set[str]:
    """The folders (relative, POSIX) that hold `files`, at any depth."""
    return {parent.as_posix() for name in files for parent in PurePosixPath(name).parents} - {"."}


def foreign_entries(folder: Path, owned: set[str]):
    """Each entry of `folder` that is not one of the `owned` regular files or a folder holding them, in sorted
    order, without following symbolic links: folders end with "/" and are not entered."""
    folders = owned_folders(owned)
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
