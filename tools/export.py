"""Build Fashion-MNIST and write the folder that the Hub repository holds.

    .venv/bin/python -m tools.export --sample             # the bundled sample archives, offline
    .venv/bin/python -m tools.export --data-dir ARCHIVES  # the official archives from a local folder
    .venv/bin/python -m tools.export                      # the official archives, downloaded
    .venv/bin/python -m tools.export --push USER/fashion_mnist --dry-run   # what publishing would upload

The folder (default build/hub) holds the card README.md, the files it links to (CARD_FILES),
fashion_mnist/{train,test}-*.parquet (PNG images) and arrays/{train,test}-*.parquet (uint8 arrays), 8 files each:
`load_dataset(folder)` and `load_dataset(folder, "arrays")` read it on any datasets version, with no loading script.
The folder is written beside --out, verified byte by byte (tools.verify), then swapped in whole. --push publishes
the folder that this run built and verified, never one found on disk, and never a sample build.
"""

import json
import logging
import os
import sys
from pathlib import Path

import pyarrow as pa
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

import fashion_mnist as fm
from tools import card, cli, layout, parquet, paths, publish
from tools.build import DEFAULT_CACHE, build_configs
from tools.common import EXPORT_FOLDER
from tools.verify import VerificationError, verify_folder

PROG = "tools.export"
# What a user can cause and fix, besides cli.USER_ERRORS: reported in one line, without a traceback.
USER_ERRORS = (HfHubHTTPError,)


class ExportError(cli.UserError):
    """A request this command refuses or cannot carry out, with the reason."""


def check_out(out: Path, cache_dir=None) -> None:
    """Raise `ExportError` unless this tool may replace `out`: nothing yet, an empty folder, or an earlier export by
    this tool that holds nothing else, and not where the build writes its cache (`cache_dir`, before the build)."""
    out = Path(out).absolute()
    if cache_dir is not None and Path(cache_dir).resolve().is_relative_to(out.resolve()):
        raise ExportError(f"Refusing to write --out {out}: the build would write its cache in it ({cache_dir}).")
    if out.is_symlink():
        raise ExportError(f"Refusing to write --out {out}: it is a symbolic link. Give the folder itself.")
    if out.exists() and not out.is_dir():
        raise ExportError(f"Refusing to write --out {out}: it is a file, not a folder.")
    if out.is_dir():
        written = written_files(out)
        unexpected = next(layout.foreign_entries(out, written or set()), None)
        if unexpected:
            why = f", which {PROG} did not write" if written else f" and no {layout.MANIFEST}: not an export by {PROG}"
            raise ExportError(
                f"Refusing to write --out {out}: it holds {unexpected}{why}. Choose a new or empty folder."
            )


def written_files(folder: Path) -> set[str] | None:
    """The files this tool wrote in `folder` (its manifest's list, the manifest included); None without a manifest."""
    path = folder / layout.MANIFEST
    try:
        manifest = json.loads(path.read_text("utf-8")) if path.is_file() and not path.is_symlink() else {}
        return {*manifest["files"], layout.MANIFEST} if manifest.get("written_by") == PROG else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def damaged_cache(builder, out: Path, problem: str) -> ExportError:
    """What the export says when the prepared dataset it reads from the cache is not Fashion-MNIST as recorded."""
    return ExportError(
        f"The prepared dataset in the cache {builder.cache_dir} is damaged: {problem}. {out} was left as it was. "
        f"Remove {builder.cache_dir} (or pass another --cache-dir) and export again: the dataset is then prepared "
        "anew from the verified archives."
    )


def write_contents(builders: dict, folder: Path, out: Path) -> tuple[list[str], str]:
    """Write the export of `builders` (by config name) into the empty `folder` and verify it; return its files and
    what verify found it to be ("fashion_mnist", or "sample" for the sample's digests)."""
    files = []
    for config, builder in builders.items():
        (folder / layout.DATA_FOLDERS[config]).mkdir()
        try:
            splits = builder.as_dataset()
        except (pa.ArrowException, OSError) as error:
            raise damaged_cache(builder, out, f"it cannot be read ({error})") from error
        for name, split in splits.items():
            data_folder = layout.DATA_FOLDERS[config]
            cli.log(f"Writing {data_folder}/{name}-*.parquet ({split.num_rows:,} rows, {layout.FILES_PER_SPLIT} files)")
            files += [f"{data_folder}/{file}" for file in parquet.write_split(split, folder / data_folder, name)]
    sample = builders["fashion_mnist"].config.name == "sample"
    for name, data in {"README.md": card.render(folder, sample).encode("utf-8"), **card.linked_files()}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    try:
        kind = verify_folder(folder)
    except VerificationError as error:
        data_folders = {layout.DATA_FOLDERS[config]: builder for config, builder in builders.items()}
        damaged = data_folders.get(error.file.split("/")[0], builders["fashion_mnist"])
        raise damaged_cache(damaged, out, f"the files written from it fail verification: {error.detail}") from error
    files = sorted([*layout.TEXT_FILES, *files])
    (folder / layout.MANIFEST).write_text(json.dumps({"written_by": PROG, "files": files}, indent=1) + "\n", "utf-8")
    return files, kind


def write_folder(builders: dict, out: Path, before_swap=None, build=None) -> Path:
    """Write the export of `builders` (`build_configs`; or of what `build()` returns, called once `out` is locked)
    beside `out`, verify it, call `before_swap(folder, files, kind)` (the push), then swap it in: `out` is then
    complete, or as it was. `out` must be new, empty, or an earlier export that holds nothing else (`check_out`); one
    export writes it at a time."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    with paths.replacing(out, check=check_out) as folder:
        builders = build() if build else builders
        files, kind = write_contents(builders, folder, out)
        if before_swap:
            before_swap(folder, files, kind)
    return out


def parse_args(argv):
    parser = cli.ArgumentParser(__doc__, prog=PROG)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--sample", action="store_true", help="build from the bundled sample archives (dummy/)")
    source.add_argument("--data-dir", type=cli.path_argument, help="folder holding the four official .gz archives")
    source.add_argument(
        "--base-url",
        action="append",
        help="host to download from (repeatable, tried in order; default: " + ", then ".join(fm.BASE_URLS) + ")",
    )
    parser.add_argument(
        "--out",
        type=cli.path_argument,
        default=EXPORT_FOLDER,
        help="folder to write: new, empty, or an earlier export (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        type=cli.path_argument,
        default=DEFAULT_CACHE,
        help="datasets cache for the build (default: %(default)s)",
    )
    parser.add_argument(
        "--num-proc",
        type=int,
        metavar="N",
        help=f"processes that encode images (default: {os.cpu_count()}, or 1 with --sample)",
    )
    parser.add_argument("--push", metavar="REPO_ID", help="publish the folder this run builds to a Hub dataset repo")
    parser.add_argument("--dry-run", action="store_true", help="with --push: list what would be uploaded, send nothing")
    args = parser.parse_args(argv)
    # Flag combinations that cannot work, each said in a few words.
    if args.dry_run and not args.push:
        parser.error("--dry-run lists what --push would upload: give --push REPO_ID too")
    if args.push and args.sample:
        parser.error("--push with --sample: a sample build is never published; export the official archives")
    if args.push is not None:
        try:
            validate_repo_id(args.push)
        except HFValidationError:
            parser.error(f"--push {args.push!r} is not a Hub repository id (USER/NAME)")
    if args.push and not args.dry_run and not os.environ.get("HF_TOKEN"):
        parser.error("--push needs a Hugging Face token with write access in HF_TOKEN (or add --dry-run)")
    if args.num_proc is not None and args.num_proc < 1:
        parser.error(f"--num-proc must be 1 or more, not {args.num_proc}")
    if any(not url.strip() for url in args.base_url or ()):
        parser.error("--base-url is empty: give the URL of a folder that holds the archives")
    return args


def pusher(args):
    """What `write_folder` calls on the verified folder before swapping it in, for --push: publish it and print
    what was (or would be) sent. The source tree for the `script` branch is listed now, before the build: a push
    that cannot list it stops before building."""
    source = publish.source_files() if args.push else None

    def push(folder: Path, files: list[str], kind: str) -> None:
        if kind == "sample":  # what verify found: the official archives' digests, or the sample's
            raise ExportError(f"Refusing to publish {folder}: it holds a sample build. Export the official archives.")
        api = None if args.dry_run else HfApi(token=os.environ["HF_TOKEN"])
        plan = publish.publish(args.push, folder, files, api, args.dry_run, source)
        for branch, operations in plan.items():
            print(f"{'Would push' if args.dry_run else 'Pushed'} to {args.push}@{branch}:")
            for op in operations:
                print(f"  {'add' if isinstance(op, CommitOperationAdd) else 'delete'} {op.path_in_repo}")
        if args.dry_run:
            cli.log("A push also deletes the other files of those branches but .gitattributes; a dry run asks nothing.")

    return push if args.push else None


def export(args) -> None:
    if args.data_dir is not None:
        paths.check_data_dir(args.data_dir)
    check_out(args.out, args.cache_dir)
    builders = {}

    def build():  # with --out locked: a second export to it is refused before it builds
        builders.update(
            build_configs(
                sample=args.sample,
                data_dir=args.data_dir,
                base_urls=args.base_url,
                cache_dir=args.cache_dir,
                num_proc=args.num_proc or (1 if args.sample else os.cpu_count()),
            )
        )
        return builders

    out = write_folder(None, args.out, before_swap=pusher(args), build=build)
    print(f"Wrote {out}")
    for name, split in builders["fashion_mnist"].info.splits.items():
        print(f"  {name}: {split.num_examples:,} examples")
    print(f'Load it with: datasets.load_dataset("{out}")')
    print(f'The images as uint8 arrays: datasets.load_dataset("{out}", "arrays")')


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
