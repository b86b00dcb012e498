"""Build Fashion-MNIST and write the folder that the Hub repository holds.

    .venv/bin/python -m tools.export --sample             # the bundled sample archives, offline
    .venv/bin/python -m tools.export --data-dir ARCHIVES  # the official archives from a local folder
    .venv/bin/python -m tools.export                      # the official archives, downloaded
    .venv/bin/python -m tools.export --push USER/fashion_mnist --dry-run   # what publishing would upload

The folder (default build/hub) holds the card README.md, the files it links to (CARD_FILES),
fashion_mnist/{train,test}-*.parquet (PNG images) and arrays/{train,test}-*.parquet (uint8 arrays), 8 files each:
`load_dataset(folder)` and `load_dataset(folder, "arrays")` read it on any datasets version, with no loading script.
Builds are cached in build/cache, not in the Hugging Face cache, unless --cache-dir says otherwise. --push
publishes the folder that is already there (building it first only if there is none) and refuses a sample build.
"""

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path, PurePosixPath

import datasets
import filelock
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

import fashion_mnist as fm
from tools import cli, paths
from tools.common import EXPORT_FOLDER, REPO
from tools.layout import (
    CARD_FILES,
    CONFIGS,
    DATA_FOLDERS,
    EXPORT_MANIFEST,
    FILES_PER_SPLIT,
    ROW_GROUP_SIZE,
    SAMPLE_WARNING,
    export_files,
    foreign_entries,
    owned_folders,
    parquet_file_names,
)
from tools.verify import VerificationError, verify_folder

CARD = REPO / "README.md"
# Builds get a cache of their own: in the user's default cache, a sample build would be what an offline
# `load_dataset("fashion_mnist")` falls back to.
DEFAULT_CACHE = REPO / "build" / "cache"
SAMPLE_ARCHIVES = REPO / fm.SAMPLE_DIR
# The folders that a build writes in its cache: each dataset's, and the download manager's.
CACHE_FOLDERS = ("fashion_mnist", fm.SAMPLE_DATASET_NAME, "downloads")
PROG = "tools.export"
# What a user can cause and fix, besides cli.USER_ERRORS: reported in one line, without a traceback.
USER_ERRORS = (HfHubHTTPError, VerificationError)
# Under the title of each document of docs/ on the Hub, whose visitors have the data but not the code.
HUB_DOCUMENT_NOTE = (
    "> This page documents how the dataset here was built and measured. Its commands run in a clone of the source "
    "repository that builds it (its tools, tests, examples and benchmarks); this Hub repository holds the data, the "
    "card with these pages, and the loading script in its `script` branch."
)
# Card text between these marker lines is for the repository only (setup commands): the Hub card leaves it out.
REPO_ONLY = re.compile(r"^<!-- repo-only -->\n.*?^<!-- /repo-only -->\n\n?", re.MULTILINE | re.DOTALL)
# The codec of the image column, which datasets' own writer leaves uncompressed when it holds PNG files. Chosen
# from the sizes and decoding times in docs/benchmark.md ("Storage: encoding and compression").
IMAGE_COMPRESSION = "zstd"
IMAGE_COMPRESSION_LEVEL = 19
# The Parquet leaf columns of each image feature: PNG files (bytes, and a path that is always null), or arrays.
IMAGE_LEAVES = {"Image": ["image.bytes", "image.path"], "Array2D": ["image.list.item.list.item"]}
# Rows per row group of the arrays config, whose rows are small: each row group is one opening of its file when a
# stream is resharded, which costs the training pipeline more than reading the pixels (docs/streaming.md).
ARRAYS_ROW_GROUP_SIZE = 2500
# Content-defined chunking as datasets 5 writes it (its DEFAULT_CDC_OPTIONS), fixed here for reproducible files.
CHUNKING = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}
# What the `script` branch holds: the loading script for datasets < 4, the files it reads, the card and its files.
SCRIPT_FILES = (
    "fashion_mnist.py",
    "dataset_infos.json",
    "README.md",
    *CARD_FILES,
    *(f"dummy/{a.filename}" for s in fm.SAMPLE_SPLITS for a in (s.images, s.labels)),
)


class ExportError(cli.UserError):
    """A request this command refuses or cannot carry out, with the reason."""


def build(
    config_name="fashion_mnist", data_dir=None, base_urls=None, cache_dir=DEFAULT_CACHE, num_proc=None, arrays=False
):
    """Download, verify and prepare the dataset; return the prepared builder. `arrays` asks the sample config for
    arrays (the official archives' config of arrays is `arrays`)."""
    kwargs = {"base_urls": tuple(base_urls)} if base_urls else {}
    if arrays:
        kwargs["arrays"] = True
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


def build_arrays(builder):
    """The config of arrays for the archives `builder` was prepared from, prepared in the same cache: the
    archives it downloaded are verified and read again from there."""
    config = builder.config
    sample = config.name == "sample"
    return build(
        config_name="sample" if sample else "arrays",
        data_dir=config.data_dir,
        # Hosts given to the build are passed on; a config's own hosts need not be.
        base_urls=None if config.base_urls in (fm.BASE_URLS, (fm.SAMPLE_DIR + "/",)) else config.base_urls,
        cache_dir=builder._cache_dir_root,
        arrays=sample,
    )


def hub_text(text: str) -> str:
    """The card's markdown as the Hub shows it: without the repository-only parts."""
    return REPO_ONLY.sub("", text)


def render_card(infos: dict[str, datasets.DatasetInfo], sample: bool) -> str:
    """The repository's card for the Hub, with `dataset_info` and `configs` describing this build: `infos` holds
    the info of each config (DATA_FOLDERS), by name."""
    card = DatasetCard.load(CARD)
    card.text = hub_text(card.text)
    named = {}
    for name in DATA_FOLDERS:
        named[name] = infos[name].copy()
        named[name].config_name = name
    DatasetInfosDict(named).to_dataset_card_data(card.data)
    card.data["configs"] = CONFIGS
    if sample:
        card.text = SAMPLE_WARNING + "\n\n" + card.text.lstrip("\n")
    return str(card)


def write_parquet_files(
    split: datasets.Dataset, folder: Path, split_name: str, options: dict | None = None, rows: int | None = None
) -> None:
    """Write `split` as FILES_PER_SPLIT consecutive parts, in order, with row groups of ROW_GROUP_SIZE rows
    (ARRAYS_ROW_GROUP_SIZE for arrays). `options` and `rows` replace the column options and the row group size
    (benchmarks.storage compares others)."""
    for index, name in enumerate(parquet_file_names(split_name)):
        part = split.shard(num_shards=FILES_PER_SPLIT, index=index, contiguous=True)
        write_parquet(part, folder / name, options, rows)


def write_parquet(dataset: datasets.Dataset, path: Path, options: dict | None = None, rows: int | None = None) -> None:
    """Write `dataset` as `Dataset.to_parquet` does (content-defined chunking, page index, statistics, the features
    in the `huggingface` schema metadata), with the column options of `column_options` and row groups of
    `row_group_size` unless `options` and `rows` say otherwise."""
    options = column_options(dataset.features) if options is None else options
    rows = row_group_size(dataset.features) if rows is None else rows
    with pq.ParquetWriter(
        path,
        dataset.features.arrow_schema,
        use_content_defined_chunking=CHUNKING,
        write_page_index=True,
        # Nested lists (the arrays config) with the `item` field names that `datasets` gives them: pyarrow 10, the
        # oldest with Python 3.11 wheels, refuses Array2D columns whose lists are named `element` (the default).
        use_compliant_nested_type=False,
        **options,
    ) as writer:
        for batch in dataset.with_format("arrow").iter(batch_size=rows):
            writer.write_table(batch)
        writer.add_key_value_metadata({"content_defined_chunking": json.dumps(CHUNKING)})


def row_group_size(features: datasets.Features) -> int:
    """Rows per Parquet row group: ARRAYS_ROW_GROUP_SIZE for pixels as arrays, else ROW_GROUP_SIZE."""
    return ARRAYS_ROW_GROUP_SIZE if isinstance(features.get("image"), datasets.Array2D) else ROW_GROUP_SIZE


def column_options(features: datasets.Features) -> dict:
    """The ParquetWriter options of each column: datasets' (PNG bytes stored plain, other columns, labels and pixels
    dictionary-encoded, the columns besides the image compressed with snappy), and the image column, if any,
    compressed with IMAGE_COMPRESSION."""
    image = features.get("image")
    image_leaves = IMAGE_LEAVES[type(image).__name__] if image is not None else []
    png = isinstance(image, datasets.Image)
    others = [name for name in features if name != "image"]  # flat columns: the label
    return {
        "compression": {**dict.fromkeys(image_leaves, IMAGE_COMPRESSION), **dict.fromkeys(others, "snappy")},
        "compression_level": dict.fromkeys(image_leaves, IMAGE_COMPRESSION_LEVEL),
        "use_dictionary": others if png else [*image_leaves, *others],
        "column_encoding": dict.fromkeys(image_leaves, "PLAIN") if png else {},
    }


def hub_document(text: str) -> str:
    """A document of docs/ as the Hub shows it: without its repository-only parts, and with a note under its title
    and links that says where its commands run."""
    title, links, rest = hub_text(text).split("\n\n", 2)
    return "\n\n".join([title, links, HUB_DOCUMENT_NOTE, rest])


def copy_card_files(folder: Path) -> None:
    """Copy the files that the card links to (CARD_FILES) into `folder`, at the same relative paths; the documents
    of docs/ as the Hub shows them."""
    for name in CARD_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if name.startswith("docs/"):
            (folder / name).write_text(hub_document((REPO / name).read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copyfile(REPO / name, folder / name)


def archive_folders(data_dir=None) -> list[tuple[Path, str]]:
    """The folders of archives that an export reads and never writes, resolved, each with what it is."""
    folders = [(SAMPLE_ARCHIVES, "the sample archives")]
    if data_dir:
        folders.append((Path(data_dir).resolve(), "the archives of --data-dir"))
    return folders


def check_out(out: Path, data_dir=None, cache_dir=None) -> Path:
    """Raise `ExportError` unless this tool may write `out`: a path that does not exist, an empty folder, or an
    earlier export by this tool that holds nothing else; and not a folder that is, holds or sits in one the
    export reads. Return `out` resolved."""
    out = Path(out).resolve()
    protected = [(REPO, "the repository"), *archive_folders(data_dir)]
    if cache_dir:
        cache = Path(cache_dir).resolve()
        protected.append((cache, "the cache of --cache-dir"))
        if out.is_relative_to(cache) and out != cache:
            raise ExportError(f"Refusing to write --out {out}: it is inside the cache ({cache}).")
    for folder, what in protected:
        if out == folder:
            raise ExportError(f"Refusing to write --out {out}: it is {what}.")
        if folder.is_relative_to(out):
            raise ExportError(f"Refusing to write --out {out}: it holds {what} ({folder}).")
    if out.exists() and not out.is_dir():
        raise ExportError(f"Refusing to write --out {out}: it is a file, not a folder.")
    if out.is_dir():
        written = written_files(out)
        unexpected = next(foreign_entries(out, written or set()), None)
        if unexpected and written is None:
            raise ExportError(
                f"Refusing to write --out {out}: it holds {unexpected} and is not an export by {PROG} "
                f"(no complete {EXPORT_MANIFEST}). Choose a new or empty folder."
            )
        if unexpected:
            raise ExportError(
                f"Refusing to write --out {out}: it holds {unexpected}, which {PROG} did not write. "
                "Move it away, or choose a new or empty folder."
            )
    return out


def written_files(folder: Path, complete_only=True) -> set[str] | None:
    """The files that this tool wrote in `folder`, as its manifest lists them; None if it has no valid manifest
    (with `complete_only`, also if the manifest is that of a folder still being written)."""
    path = folder / EXPORT_MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text("utf-8"))
        files = set(manifest["files"])
        complete = manifest["complete"] is True
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if manifest.get("written_by") != PROG or not all(_inside(name) for name in files):
        return None
    return files | {EXPORT_MANIFEST} if complete or not complete_only else None


def _inside(name) -> bool:
    """Whether a manifest's entry names a file inside the folder: a relative path with no "..", as this tool writes."""
    path = PurePosixPath(name) if isinstance(name, str) else None
    return path is not None and not path.is_absolute() and ".." not in path.parts and name not in ("", ".")


def write_manifest(folder: Path, complete: bool) -> None:
    manifest = {"written_by": PROG, "complete": complete, "files": export_files()}
    (folder / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")


def remove_export(folder: Path) -> None:
    """Remove the files that this tool wrote in `folder` (its manifest lists them), then its folders if empty:
    a file anyone else put there stays, and so does the folder holding it."""
    files = written_files(folder, complete_only=False) or set()
    for name in sorted(files - {EXPORT_MANIFEST}):
        path = folder / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    (folder / EXPORT_MANIFEST).unlink(missing_ok=True)  # last: a removal cut short can be finished later
    for name in sorted(owned_folders(files), key=lambda name: -name.count("/")):
        with contextlib.suppress(OSError):
            (folder / name).rmdir()
    try:
        folder.rmdir()
    except OSError:
        log(f"Left {folder} in place: it holds files that {PROG} did not write")


def out_lock(out: Path) -> filelock.FileLock:
    """The lock that one export to `out` holds, from its checks to its last rename (see docs/faults.md)."""
    return filelock.FileLock(out.with_name(f".{out.name}.lock"), timeout=0, is_singleton=True)


@contextlib.contextmanager
def writing(out: Path):
    """Hold `out`'s lock, or raise `ExportError` at once if another export holds it."""
    lock = out_lock(out)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ExportError(
            f"Another {PROG} is writing {out} (it holds {lock.lock_file}): wait for it to end, then run this again."
        ) from None
    try:
        yield
    finally:
        lock.release()


def clear_leftovers(out: Path, partial: Path, previous: Path) -> None:
    """Finish what an export killed part-way left beside `out`: put back the earlier export if it was moved
    aside, remove a half-written folder. Refuse folders of those names that this tool did not write."""
    for folder in (previous, partial):
        if folder.exists() and next(foreign_entries(folder, written_files(folder, False) or set()), None):
            raise ExportError(f"Refusing to write --out {out}: {folder} is in the way and {PROG} did not write it.")
    if previous.exists() and not out.exists() and written_files(previous):
        previous.rename(out)  # an earlier run stopped between its two renames: that folder is complete
    for folder in (previous, partial):
        if folder.exists():
            remove_export(folder)
        if folder.exists():  # someone put a file there meanwhile
            raise ExportError(f"Refusing to write --out {out}: {folder} is in the way and {PROG} did not write it.")


def damaged_cache(builder, out: Path, problem: str) -> ExportError:
    """What the export says when the prepared dataset it reads from the cache is not Fashion-MNIST as recorded."""
    return ExportError(
        f"The prepared dataset in the cache {builder.cache_dir} is damaged: {problem}. {out} was left as it was. "
        f"Remove {builder.cache_dir} (or pass another --cache-dir) and export again: the dataset is then prepared "
        "anew from the verified archives."
    )


def write_folder(builder, out: Path, arrays_builder=None) -> Path:
    """Write the Hub folder of `builder`'s build and its config of arrays (`arrays_builder`, by default prepared
    from the same archives) beside `out`, then move it into place: `out` is complete or untouched. `out` must be
    new, empty, or an earlier export that holds nothing else (`check_out`); one export writes it at a time."""
    arrays_builder = arrays_builder or build_arrays(builder)
    builders = {"fashion_mnist": builder, "arrays": arrays_builder}
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    previous = out.with_name(f".{out.name}.previous")
    with writing(out):
        check_out(out)
        clear_leftovers(out, partial, previous)
        partial.mkdir()
        try:
            write_manifest(partial, complete=False)
            infos = {name: config_builder.info for name, config_builder in builders.items()}
            (partial / "README.md").write_text(render_card(infos, builder.config.name == "sample"), "utf-8")
            copy_card_files(partial)
            for config, config_builder in builders.items():
                folder = DATA_FOLDERS[config]
                (partial / folder).mkdir()
                try:
                    splits = config_builder.as_dataset()
                except (pa.ArrowException, OSError) as error:
                    raise damaged_cache(config_builder, out, f"it cannot be read ({error})") from error
                for name, split in splits.items():
                    log(f"Writing {folder}/{name}-*.parquet ({split.num_rows:,} rows, {FILES_PER_SPLIT} files)")
                    write_parquet_files(split, partial / folder, name)
            try:
                verify_folder(partial)
            except VerificationError as error:
                damaged = next(
                    (b for c, b in builders.items() if error.file.startswith(f"{DATA_FOLDERS[c]}/")), builder
                )
                raise damaged_cache(
                    damaged, out, f"the files written from it fail verification: {error.detail}"
                ) from error
            write_manifest(partial, complete=True)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)  # created by this run, which cleared the name first
            raise
        with cli.signals_held():
            if out.exists():
                out.rename(previous)
            partial.rename(out)
            if previous.exists():
                remove_export(previous)
    return out


def published_files(folder: Path) -> tuple[list[str], list[str]]:
    """What a push of `folder` sends, exactly the files an export writes, and what else the folder holds (left
    out). Raise `ExportError` if one of those files is missing, a symbolic link, or reached through one."""
    folder = folder.resolve()
    for name in export_files():
        path = folder / name
        if not path.exists() and not path.is_symlink():
            raise ExportError(f"Refusing to publish {folder}: it has no {name}")
        if path.resolve() != path or not path.is_file():
            raise ExportError(f"Refusing to publish {folder}: {name} is not a regular file in it (a symbolic link?)")
    return export_files(), list(foreign_entries(folder, {*export_files(), EXPORT_MANIFEST}))


def main_branch_operations(folder: Path, remote_files=()) -> list:
    """Commit operations that make the Hub's `main` hold exactly the export in `folder`: add each file the
    export writes, delete every other file of the branch."""
    files, _ = published_files(folder)
    adds = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path)) for path in files]
    deletes = [CommitOperationDelete(path_in_repo=p) for p in remote_files if p not in files and p != ".gitattributes"]
    return adds + deletes


def script_branch_operations(remote_files=()) -> list:
    """Commit operations that make the Hub's `script` branch hold the loading script and its files."""
    adds = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(REPO / path)) for path in SCRIPT_FILES]
    deletes = [
        CommitOperationDelete(path_in_repo=p) for p in remote_files if p not in SCRIPT_FILES and p != ".gitattributes"
    ]
    return adds + deletes


def publish(repo_id: str, folder: Path, token: str | None, dry_run: bool) -> dict:
    """Push `folder` to `main` and the loading script to `script`; return the operations per branch.

    One `create_commit` per branch, not `upload_folder`: with `hf_xet` installed, `upload_folder` may split a folder
    into several commits, and between them the Hub would serve a dataset half old and half new."""
    try:
        config = verify_folder(folder)
    except VerificationError as error:
        raise ExportError(f"Refusing to publish {folder}: {error.detail}") from error
    if config == "sample":
        raise ExportError(f"Refusing to publish {folder}: it holds a sample build. Export the official archives.")
    _, left_out = published_files(folder)
    if left_out:
        log(f"Leaving out of the push what the export does not write: {', '.join(left_out)}")
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
    lines.append(f'The images as uint8 arrays: datasets.load_dataset("{out}", "arrays")')
    return "\n".join(lines)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and the default of every option that has one."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return f"{action.help} (default: {action.default})"


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--sample", action="store_true", help="build from the bundled sample archives (dummy/)")
    source.add_argument("--data-dir", type=cli.path_argument, help="folder holding the four official .gz archives")
    source.add_argument(
        "--base-url",
        action="append",
        help="host to download from (repeatable, tried in order; default: " + ", then ".join(fm.BASE_URLS) + ")",
    )
    parser.add_argument(
        "--out", type=cli.path_argument, default=EXPORT_FOLDER, help="folder to write: new, empty, or an earlier export"
    )
    parser.add_argument(
        "--cache-dir", type=cli.path_argument, default=DEFAULT_CACHE, help="datasets cache for the build"
    )
    parser.add_argument(
        "--num-proc",
        type=positive_int,
        metavar="N",
        help=f"processes that encode images (default: {os.cpu_count()}, or 1 with --sample)",
    )
    parser.add_argument("--push", metavar="REPO_ID", help="publish the folder to this Hub dataset repository")
    parser.add_argument("--dry-run", action="store_true", help="with --push: list what would be uploaded, send nothing")
    parser.add_argument(
        "--debug",
        action="store_true",
        default=cli.debug_default(),
        help="show the traceback of an error; FASHION_MNIST_DEBUG=1 does the same",
    )
    args = parser.parse_args(argv)
    for problem in usage_problems(args):
        parser.error(problem)
    return args


def usage_problems(args) -> list[str]:
    """Flag combinations that cannot work, each said in a few words."""
    problems = []
    if args.dry_run and not args.push:
        problems.append("--dry-run lists what --push would upload: give --push REPO_ID too")
    if args.push and args.sample:
        problems.append("--push with --sample: a sample build is never published; export the official archives")
    if args.push is not None:
        try:
            validate_repo_id(args.push)
        except HFValidationError:
            problems.append(f"--push {args.push!r} is not a Hub repository id (USER/NAME)")
    if args.push and not args.dry_run and not os.environ.get("HF_TOKEN"):
        problems.append("--push needs a Hugging Face token with write access in HF_TOKEN (or add --dry-run)")
    if any(not url.strip() for url in args.base_url or ()):
        problems.append("--base-url is empty: give the URL of a folder that holds the archives")
    return problems


def check_inputs(args) -> None:
    """Check the folders that the command reads, before any work."""
    if args.data_dir is not None:
        paths.check_data_dir(args.data_dir)
    if args.cache_dir.exists() and not args.cache_dir.is_dir():
        raise ExportError(f"--cache-dir {args.cache_dir} is a file, not a folder")
    cache = args.cache_dir.resolve()
    where = cache_dir_problem(cache, args.data_dir)
    if where:
        raise ExportError(
            f"--cache-dir {cache} is {where}: the cache would be written among those files. "
            f"Give a folder of its own (default: {DEFAULT_CACHE})"
        )


def cache_dir_problem(cache: Path, data_dir=None) -> str | None:
    """Where a build in `cache` would write among files it must not touch, or None."""
    if cache == REPO:
        return "the repository"
    for folder, what in archive_folders(data_dir):
        if cache.is_relative_to(folder):
            return f"in {what} ({folder})"
        for written in (cache / name for name in CACHE_FOLDERS):
            if folder.is_relative_to(written):
                return f"above {what} ({folder}), in {written}, which the build writes"
    return None


def log(message: str) -> None:
    cli.log(message)


def export(args) -> None:
    check_inputs(args)
    out = args.out.resolve()
    source_given = args.sample or args.data_dir or args.base_url
    if args.push and not source_given and out.exists():
        log(f"Publishing the existing export in {out} (not building again)")
    else:
        check_out(out, args.data_dir, args.cache_dir)
        with writing(out):
            builder = build(
                config_name="sample" if args.sample else "fashion_mnist",
                data_dir=args.data_dir,
                base_urls=args.base_url,
                cache_dir=args.cache_dir,
                num_proc=args.num_proc or (1 if args.sample else os.cpu_count()),
            )
            write_folder(builder, out)
        print(summary(builder, out))
    if args.push:
        with writing(out):  # no export replaces the folder while it is read
            plan = publish(args.push, out, os.environ.get("HF_TOKEN"), args.dry_run)
        for branch, operations in plan.items():
            print(f"{'Would push' if args.dry_run else 'Pushed'} to {args.push}@{branch}:")
            for op in operations:
                verb = "add" if isinstance(op, CommitOperationAdd) else "delete"
                print(f"  {verb} {op.path_in_repo}")
        if args.dry_run:
            log(
                "A push also deletes every other file of those branches but .gitattributes; "
                "a dry run does not ask the Hub which."
            )


def main(argv=None) -> int:
    args = parse_args(argv)
    # Say what the build is doing (download, verify, check) beside datasets' own progress bars.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger(fm.__name__).addHandler(handler)
    logging.getLogger(fm.__name__).setLevel(logging.INFO)
    try:
        return cli.run(PROG, lambda: export(args), debug=args.debug, user_errors=USER_ERRORS)
    finally:
        logging.getLogger(fm.__name__).removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
