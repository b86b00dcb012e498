"""Build Fashion-MNIST and write the folder that the Hub repository holds.

    .venv/bin/python -m tools.export --sample             # the bundled sample archives, offline
    .venv/bin/python -m tools.export --data-dir ARCHIVES  # the official archives from a local folder
    .venv/bin/python -m tools.export                      # the official archives, downloaded
    .venv/bin/python -m tools.export --push USER/fashion_mnist --dry-run   # what publishing would upload

The folder (default build/hub) holds the card README.md, the files it links to (CARD_FILES) and
fashion_mnist/{train,test}-*.parquet (8 files each): `load_dataset(folder)` reads it on any datasets version, with no
loading script. Builds are cached in build/cache, not in the Hugging Face cache, unless --cache-dir says
otherwise. --push publishes the folder that is already there (building it first only if there is none) and
refuses a sample build.
"""

import argparse
import hashlib
import logging
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import datasets
import pyarrow as pa
from datasets.info import DatasetInfosDict
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi
from huggingface_hub.errors import HfHubHTTPError

import fashion_mnist as fm
from tools.layout import (
    CARD_FILES,
    CONFIGS,
    DATA_FOLDER,
    FILES_PER_SPLIT,
    ROW_GROUP_SIZE,
    SAMPLE_WARNING,
    parquet_file_names,
)
from tools.verify import VerificationError, verify_folder

REPO = Path(__file__).resolve().parent.parent
CARD = REPO / "README.md"
DEFAULT_OUT = REPO / "build" / "hub"
# Builds get a cache of their own: in the user's default cache, a sample build would be what an offline
# `load_dataset("fashion_mnist")` falls back to.
DEFAULT_CACHE = REPO / "build" / "cache"
# Card text between these marker lines is for the repository only (setup commands): the Hub card leaves it out.
REPO_ONLY = re.compile(r"^<!-- repo-only -->\n.*?^<!-- /repo-only -->\n\n?", re.MULTILINE | re.DOTALL)
# What the `script` branch holds: the loading script for datasets < 4, the files it reads, the card and its files.
SCRIPT_FILES = (
    "fashion_mnist.py",
    "dataset_infos.json",
    "README.md",
    *CARD_FILES,
    *(f"dummy/{a.filename}" for s in fm.SAMPLE_SPLITS for a in (s.images, s.labels)),
)


class ExportError(Exception):
    """A request this command refuses or cannot carry out, with the reason."""


def build(config_name="fashion_mnist", data_dir=None, base_urls=None, cache_dir=DEFAULT_CACHE, num_proc=None):
    """Download, verify and prepare the dataset; return the prepared builder."""
    kwargs = {"base_urls": tuple(base_urls)} if base_urls else {}
    builder = fm.FashionMnist(
        config_name=config_name,
        cache_dir=str(cache_dir),
        data_dir=data_dir,
        # A prepared dataset in the cache is reused only if it was made by this very script.
        hash=hashlib.sha256(Path(fm.__file__).read_bytes()).hexdigest()[:16],
        **kwargs,
    )
    builder.download_and_prepare(num_proc=num_proc)
    return builder


def hub_text(text: str) -> str:
    """The card's markdown as the Hub shows it: without the repository-only parts."""
    return REPO_ONLY.sub("", text)


def render_card(info: datasets.DatasetInfo, sample: bool) -> str:
    """The repository's card for the Hub, with `dataset_info` and `configs` describing this build."""
    card = DatasetCard.load(CARD)
    card.text = hub_text(card.text)
    info = info.copy()
    info.config_name = "fashion_mnist"
    DatasetInfosDict({info.config_name: info}).to_dataset_card_data(card.data)
    card.data["configs"] = CONFIGS
    if sample:
        card.text = SAMPLE_WARNING + "\n\n" + card.text.lstrip("\n")
    return str(card)


def write_parquet_files(split: datasets.Dataset, folder: Path, split_name: str) -> None:
    """Write `split` as FILES_PER_SPLIT consecutive parts, in order, with row groups of ROW_GROUP_SIZE rows."""
    for index, name in enumerate(parquet_file_names(split_name)):
        part = split.shard(num_shards=FILES_PER_SPLIT, index=index, contiguous=True)
        part.to_parquet(str(folder / name), batch_size=ROW_GROUP_SIZE)


def copy_card_files(folder: Path) -> None:
    """Copy the files that the card links to (CARD_FILES) into `folder`, at the same relative paths."""
    for name in CARD_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, folder / name)


def damaged_cache(builder, out: Path, problem: str) -> ExportError:
    """What the export says when the prepared dataset it reads from the cache is not Fashion-MNIST as recorded."""
    return ExportError(
        f"The prepared dataset in the cache {builder.cache_dir} is damaged: {problem}. {out} was left as it was. "
        f"Remove {builder.cache_dir} (or pass another --cache-dir) and export again: the dataset is then prepared "
        "anew from the verified archives."
    )


def write_folder(builder, out: Path) -> Path:
    """Write the Hub folder beside `out`, then move it into place: `out` is complete or untouched."""
    out = out.resolve()
    partial = out.with_name(f".{out.name}.partial")
    previous = out.with_name(f".{out.name}.previous")
    if previous.exists() and not out.exists():
        previous.rename(out)  # an earlier run stopped between its two renames: that folder is complete
    for stale in (partial, previous):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        (partial / DATA_FOLDER).mkdir(parents=True)
        (partial / "README.md").write_text(render_card(builder.info, builder.config.name == "sample"), "utf-8")
        copy_card_files(partial)
        try:
            splits = builder.as_dataset()
        except (pa.ArrowException, OSError) as error:
            raise damaged_cache(builder, out, f"it cannot be read ({error})") from error
        for name, split in splits.items():
            log(f"Writing {DATA_FOLDER}/{name}-*.parquet ({split.num_rows:,} rows, {FILES_PER_SPLIT} files)")
            write_parquet_files(split, partial / DATA_FOLDER, name)
        try:
            verify_folder(partial)
        except VerificationError as error:
            raise damaged_cache(builder, out, f"the files written from it fail verification: {error.detail}") from error
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rename(previous)
    partial.rename(out)
    shutil.rmtree(previous, ignore_errors=True)
    return out


def main_branch_operations(folder: Path, remote_files=()) -> list:
    """Commit operations that make the Hub's `main` equal to `folder`: add every file, delete the rest."""
    local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    adds = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path)) for path in local]
    deletes = [CommitOperationDelete(path_in_repo=p) for p in remote_files if p not in local and p != ".gitattributes"]
    return adds + deletes


def script_branch_operations(remote_files=()) -> list:
    """Commit operations that make the Hub's `script` branch hold the loading script and its files."""
    adds = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(REPO / path)) for path in SCRIPT_FILES]
    deletes = [
        CommitOperationDelete(path_in_repo=p) for p in remote_files if p not in SCRIPT_FILES and p != ".gitattributes"
    ]
    return adds + deletes


def publish(repo_id: str, folder: Path, token: str | None, dry_run: bool) -> dict:
    """Push `folder` to `main` and the loading script to `script`; return the operations per branch."""
    try:
        config = verify_folder(folder)
    except VerificationError as error:
        raise ExportError(f"Refusing to publish {folder}: {error.detail}") from error
    if config == "sample":
        raise ExportError(f"Refusing to publish {folder}: it holds a sample build. Export the official archives.")
    api = HfApi(token=token)
    if dry_run:
        plan = {"main": main_branch_operations(folder), "script": script_branch_operations()}
    else:
        if not token:
            raise ExportError("Publishing needs a Hugging Face token with write access in HF_TOKEN.")
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        main_files = api.list_repo_files(repo_id, repo_type="dataset", revision="main")
        plan = {"main": main_branch_operations(folder, main_files)}
        api.create_commit(repo_id, plan["main"], commit_message="Parquet export and card", repo_type="dataset")
        api.create_branch(repo_id, branch="script", repo_type="dataset", exist_ok=True)
        script_files = api.list_repo_files(repo_id, repo_type="dataset", revision="script")
        plan["script"] = script_branch_operations(script_files)
        api.create_commit(
            repo_id, plan["script"], commit_message="Loading script", repo_type="dataset", revision="script"
        )
    return plan


def summary(builder, out: Path) -> str:
    """Splits, examples per class, where the folder is and how to load it."""
    names = builder.info.features["label"].names
    lines = [f"Wrote {out}"]
    for name, split in builder.as_dataset().items():
        per_class = Counter(split["label"])
        lines.append(f"  {name}: {split.num_rows:,} examples")
        lines += [f"    {label} {names[label]:<16} {per_class[label]:>6,}" for label in range(len(names))]
    lines.append(f'Load it with: datasets.load_dataset("{out}")')
    return "\n".join(lines)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and the default of every option that has one."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return f"{action.help} (default: {action.default})"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools.export", description=__doc__, formatter_class=HelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--sample", action="store_true", help="build from the bundled sample archives (dummy/)")
    source.add_argument("--data-dir", help="folder holding the four official .gz archives")
    source.add_argument(
        "--base-url",
        action="append",
        help="host to download from (repeatable, tried in order; default: " + ", then ".join(fm.BASE_URLS) + ")",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="datasets cache for the build")
    parser.add_argument("--num-proc", type=int, default=os.cpu_count(), help="processes that encode images")
    parser.add_argument("--push", metavar="REPO_ID", help="publish the folder to this Hub dataset repository")
    parser.add_argument("--dry-run", action="store_true", help="with --push: list what would be uploaded, send nothing")
    parser.add_argument(
        "--debug",
        action="store_true",
        default=bool(os.environ.get("FASHION_MNIST_DEBUG")),
        help="show the traceback of an error; FASHION_MNIST_DEBUG=1 does the same",
    )
    return parser.parse_args(argv)


# What a user can cause and fix: reported in one message, without a traceback.
USER_ERRORS = (fm.ArchiveError, fm.ArchiveUnavailableError, ExportError, HfHubHTTPError, OSError)


def user_error(error: BaseException) -> BaseException | None:
    """The user error behind `error`: datasets wraps what fails while a split is generated."""
    while error is not None:
        if isinstance(error, USER_ERRORS):
            return error
        error = error.__cause__
    return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def export(args) -> None:
    source_given = args.sample or args.data_dir or args.base_url
    if args.push and args.sample:
        raise ExportError("Refusing to publish a sample build: export the official archives to publish.")
    if args.push and not source_given and args.out.exists():
        log(f"Publishing the existing export in {args.out} (not building again)")
        out = args.out.resolve()
    else:
        builder = build(
            config_name="sample" if args.sample else "fashion_mnist",
            data_dir=args.data_dir,
            base_urls=args.base_url,
            cache_dir=args.cache_dir,
            num_proc=1 if args.sample else args.num_proc,
        )
        out = write_folder(builder, args.out)
        print(summary(builder, out))
    if args.push:
        plan = publish(args.push, out, os.environ.get("HF_TOKEN"), args.dry_run)
        for branch, operations in plan.items():
            print(f"{'Would push' if args.dry_run else 'Pushed'} to {args.push}@{branch}:")
            for op in operations:
                verb = "add" if isinstance(op, CommitOperationAdd) else "delete"
                print(f"  {verb} {op.path_in_repo}")


def main(argv=None) -> int:
    args = parse_args(argv)
    # Say what the build is doing (download, verify, check) beside datasets' own progress bars.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger(fm.__name__).addHandler(handler)
    logging.getLogger(fm.__name__).setLevel(logging.INFO)
    try:
        export(args)
    except Exception as error:
        cause = user_error(error)
        if cause is None or args.debug:
            raise
        log(f"tools.export: error: {cause}")
        return 1
    finally:
        logging.getLogger(fm.__name__).removeHandler(handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
