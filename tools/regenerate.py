"""Regenerate every file, picture and table that the repository derives from the official archives.

    .venv/bin/python -m tools.regenerate            # rewrites what differs
    .venv/bin/python -m tools.regenerate --check    # writes nothing: lists what differs, exit 1 if anything does

Calls every generator (docs/development.md lists them) and writes what differs at once, every file whole.
tests/test_regenerate.py runs it on the real archives and compares."""

import difflib
import json
import re
import sys
import tempfile
from pathlib import Path

from datasets.utils.py_utils import asdict
from huggingface_hub import DatasetCard

import fashion_mnist as fm
from tools import card_stats, cli, common, paths, pictures
from tools import label_issues as li
from tools import near_duplicates as nd
from tools.build import build_configs
from tools.card import CARD
from tools.common import gzip_bytes, idx_bytes
from tools.export import write_folder

INFOS = common.REPO / "dataset_infos.json"
NEAR_DUPLICATES_DOC = common.REPO / "docs" / "near-duplicates.md"
LABEL_ISSUES_DOC = common.REPO / "docs" / "label-issues.md"
COMMAND = ".venv/bin/python -m tools.regenerate"
BINARY = {".png": "picture", ".gz": "archive"}  # the generated files that are not text
# What names a block in its first line: a list item's bold title, or the whole line (a table's header row).
NAME = re.compile(r"- \*\*[^*]+|.*")


def relative(path: Path) -> str:
    return path.relative_to(common.REPO).as_posix()


def put(text: str, blocks: list[str], path: Path) -> str:
    """`text` with each block in place of the one block of its name. A table goes on over the lines that start with
    "|", a list item over the lines indented by two spaces."""
    for block in blocks:
        name, table = NAME.match(block)[0], block.startswith("|")
        lines = text.split("\n")
        starts = [i for i, line in enumerate(lines) if NAME.match(line)[0] == name]
        if len(starts) != 1:
            kind = "tables with the header" if table else "list items that start with"
            raise cli.UserError(f"{relative(path)} has {len(starts)} {kind} {name}, not one")
        end = starts[0] + 1
        while end < len(lines) and lines[end].startswith("|" if table else "  "):
            end += 1
        text = "\n".join([*lines[: starts[0]], block, *lines[end:]])
    return text


def recorded(data_dir, builders=None, export_folder=None) -> tuple[str, str]:
    """(dataset_infos.json, the card with the YAML of the export's card) of a build and export of both configs from the
    archives in `data_dir`, made in a temporary folder; or of the given `builders` and their `export_folder`."""
    if builders is None:
        with tempfile.TemporaryDirectory() as folder:
            builders = build_configs(data_dir=str(data_dir), cache_dir=Path(folder) / "cache")
            return recorded(data_dir, builders, write_folder(builders, Path(folder) / "hub"))
    archives = [archive for split in fm.OFFICIAL_SPLITS for archive in (split.images, split.labels)]
    checksums = {fm.BASE_URLS[0] + a.filename: {"num_bytes": a.num_bytes, "checksum": a.sha256} for a in archives}
    infos = {}
    for name, builder in builders.items():
        info = builder.info.copy()
        info.download_checksums = checksums
        infos[name] = asdict(info)
        for split in infos[name]["splits"].values():
            # How many processes wrote a split is a detail of one build, not a fact about the data.
            split.pop("shard_lengths", None)
            split.pop("original_shard_lengths", None)
    card = DatasetCard.load(CARD)  # the repository's card, repository-only parts included
    card.data = DatasetCard.load(Path(export_folder) / "README.md").data
    return json.dumps(infos, indent=2) + "\n", str(card)


def generate(data_dir: Path, found: dict | None = None, exported: tuple | None = None) -> dict[Path, bytes]:
    """Path -> the bytes each generated file should hold, from the verified official archives in `data_dir`. Done
    already if given: `found`, the near-duplicate search on them; `exported`, (builders, export folder) of a build."""
    splits = common.load_official(data_dir)
    infos, card = recorded(data_dir, *(exported or ()))
    found = nd.search(splits) if found is None else found
    candidates = li.read_candidates()
    sizes = {split.split: split.num_examples for split in fm.OFFICIAL_SPLITS}
    criterion = nd.criterion_table(found, splits)
    card_blocks = [*card_stats.card_tables(data_dir, splits).values(), criterion, li.card_bullet(candidates, sizes)]
    doc_blocks = {
        NEAR_DUPLICATES_DOC: [nd.histogram_table(found, splits), nd.thresholds_table(found, splits), criterion],
        LABEL_ISSUES_DOC: [li.counts_table(candidates, sizes), li.common_pairs_table(candidates)],
    }
    texts = {
        CARD: put(card, card_blocks, CARD),
        INFOS: infos,
        nd.PAIRS_FILE: nd.csv_text(nd.pair_rows(found, splits)),
        **{path: put(path.read_text(encoding="utf-8"), blocks, path) for path, blocks in doc_blocks.items()},
    }
    return {
        **{path: text.encode("utf-8") for path, text in texts.items()},
        nd.PICTURE: nd.picture_bytes(splits, found),
        pictures.EXAMPLES: pictures.examples(splits),
        li.PICTURE: li.picture_bytes(splits, candidates),
        # dummy/'s archives: the first examples of each official archive's array, as many as SAMPLE_SPLITS says.
        **{
            common.REPO / fm.SAMPLE_DIR / archive.filename: gzip_bytes(idx_bytes(array[: sample.num_examples]))
            for official, sample in zip(fm.OFFICIAL_SPLITS, fm.SAMPLE_SPLITS, strict=True)
            for archive, array in zip((official.images, official.labels), splits[official.split], strict=True)
        },
    }


def differing(generated: dict[Path, bytes]) -> list[Path]:
    """The generated files whose bytes differ from the repository's (or that it lacks)."""
    return [path for path, data in generated.items() if not path.is_file() or path.read_bytes() != data]


def diff(path: Path, data: bytes) -> str:
    """A unified diff of a text file against what it should hold; for a picture or an archive, one line."""
    if path.suffix in BINARY:
        return f"{relative(path)}: the {BINARY[path.suffix]} differs\n"
    old = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
    new = data.decode("utf-8").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{relative(path)}", f"b/{relative(path)}"))


def regenerate(data_dir: str, check: bool) -> None:
    generated = generate(paths.check_data_dir(data_dir))
    stale = differing(generated)
    names = ", ".join(relative(path) for path in stale)
    if not stale:
        print(f"Up to date: the {len(generated)} generated files")
    elif check:
        print("".join(diff(path, generated[path]) for path in stale), end="")
        raise cli.UserError(f"out of date: {names} (run {COMMAND})")
    else:
        paths.write_files({path: generated[path] for path in stale})
        print(f"Rewrote {names}")


def main(argv=None) -> int:
    parser = cli.ArgumentParser(__doc__, data_dir=True, prog="tools.regenerate")
    parser.add_argument("--check", action="store_true", help="write nothing; list what differs, exit 1 if anything")
    args = parser.parse_args(argv)
    return cli.run("tools.regenerate", lambda: regenerate(args.data_dir, args.check), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
