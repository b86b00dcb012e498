"""Check an export folder byte by byte, as readers see it, wherever it was written (a Hub snapshot, another pyarrow's
copy): the Parquet files' names, schemas, metadata and footers, every label, every PNG (the very file the builder
writes for its pixels) or array, each split's pixels and labels against fashion_mnist.py's SHA-256 digests, and the
card and the files it links to (what tools.card writes).

    .venv/bin/python -m tools.verify              # the export in build/hub
    .venv/bin/python -m tools.verify FOLDER

Prints "verified: FOLDER (...)" and the files there that are not part of the export, or one line naming the first
thing wrong (exit 1).
"""

import functools
import hashlib
import io
import os
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

import fashion_mnist as fm
from tools import card, cli, layout, parquet
from tools.common import EXPORT_FOLDER, REPO

FEATURES = {config: fm.features(arrays=config == "arrays") for config in layout.DATA_FOLDERS}
PARTS = [(config, split) for config in FEATURES for split in layout.SPLITS]
KINDS = {"fashion_mnist": {s.split: s for s in fm.OFFICIAL_SPLITS}, "sample": {s.split: s for s in fm.SAMPLE_SPLITS}}
DAMAGED = "a changed or damaged file"
TRUSTED = f"which the export does not write and readers trust without reading the data ({DAMAGED})"


class VerificationError(cli.UserError):
    """An export folder is not a complete, intact export. `file` (relative to `folder`) is the first thing wrong,
    `problem` says what is wrong with it."""

    def __init__(self, folder: Path, file: str, problem: str):
        super().__init__(f"{Path(folder) / file}: {problem}")
        self.file, self.problem = file, problem
        self.detail = f"{file}: {problem}" if file else problem  # the message without the folder


class Problem(Exception):
    """What is wrong (the last argument) with a file of the folder (the first, once known)."""


def verify_folder(folder: Path) -> str:
    """Raise `VerificationError` unless `folder` is an intact export; return its kind: "fashion_mnist" for the
    official archives, "sample" for the bundled sample."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            raise Problem("", "not a folder" if folder.exists() else "no such folder")
        if folder.resolve() == REPO:
            raise Problem("", f"the repository, not an export (the export writes {EXPORT_FOLDER})")
        for name in layout.TEXT_FILES:
            check_regular(folder, name)
        parts = {(config, split): split_files(folder, config, split) for config, split in PARTS}
        for name, data in card.linked_files().items():
            check_bytes(folder, name, data, "the file this version writes")
        kind = None
        for (config, split), names in parts.items():
            kind = check_split(folder, config, split, names, kind)
        rendered = card.render(folder, kind == "sample").encode()
        check_bytes(folder, "README.md", rendered, "the card this version writes")
        return kind
    except Problem as problem:
        raise VerificationError(folder, *problem.args) from problem


def check_regular(folder: Path, name: str) -> None:
    """`name` is a regular file in `folder`, with no symbolic link on its way."""
    path = folder
    for part in Path(name).parts:
        path = path / part
        if path.is_symlink():
            kind = "a regular file" if path == folder / name else "a folder"
            raise Problem(path.relative_to(folder).as_posix(), f"a symbolic link, not {kind}")
    if not path.is_file():
        raise Problem(name, "not a regular file" if path.exists() else "missing")


def split_files(folder: Path, config: str, split: str) -> list[str]:
    """The names of a split's FILES_PER_SPLIT parts, in order: every file that the card's data_files pattern matches
    (what load_dataset reads into the split), each named as the export names its part."""
    pattern, parts, count = f"{layout.DATA_FOLDERS[config]}/{split}-*", {}, layout.FILES_PER_SPLIT
    for path in layout.parquet_files(folder, config, split):
        name, match = path.relative_to(folder).as_posix(), layout.PARQUET_NAME.fullmatch(path.name)
        index = int(match[2]) if match and match[1] == split and int(match[3]) == count else count
        if index >= count or index in parts:
            into = (
                f"the {split} split ({config}): load_dataset would read it into that split. Move it out of the folder"
            )
            raise Problem(name, f"not a file of the export, but it matches {pattern}, the card's data_files of {into}")
        check_regular(folder, name)
        parts[index] = name
    for index in sorted(set(range(count)) - set(parts))[:1]:
        raise Problem(f"{pattern[:-1]}{index:05d}-of-{count:05d}-*.parquet", "missing")
    return [parts[index] for index in range(count)]


def check_split(folder: Path, config: str, split: str, names: list[str], kind: str | None) -> str:
    """Check each file of a split, then the SHA-256 of its pixels and labels; return the kind of export, which the
    first split decides: the kind of the nearest size, so that a row too many or too few is named as such."""
    decoded = [read_file((folder / name).read_bytes(), name, config) for name in names]
    rows = sum(len(labels) for _, labels in decoded)
    expected = KINDS[kind := kind or min(KINDS, key=lambda k: abs(KINDS[k][split].num_examples - rows))][split]
    sizes = [len(part) for part in np.array_split(np.arange(expected.num_examples), len(names))]
    for name, (_, labels), size in zip(names, decoded, sizes, strict=True):
        if len(labels) != size:
            of = f"one of {len(names)} consecutive parts of the {split} split's {expected.num_examples:,} examples"
            raise Problem(name, f"{len(labels):,} rows, expected {size:,} ({of})")
    pixels, labels = fm.content_digests(*map(np.concatenate, zip(*decoded, strict=True)))
    recorded = {"pixels": expected.pixels_sha256, "labels": expected.labels_sha256}
    for what, digest in (("pixels", pixels), ("labels", labels)):
        if digest != recorded[what]:
            problem = f"the {split} split's {what} are not Fashion-MNIST's: SHA-256 {digest}, recorded {recorded[what]}"
            raise Problem(f"{layout.DATA_FOLDERS[config]}/{split}-*.parquet", f"{problem} ({DAMAGED})")
    return kind


def read_file(data: bytes, name: str, config: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of a Parquet file's bytes, after checking everything in it that a reader sees."""
    digest, named = hashlib.sha256(data).hexdigest()[:16], layout.PARQUET_NAME.fullmatch(Path(name).name)[4]
    if digest != named:
        raise Problem(name, f"its SHA-256 starts with {digest}, but its name says {named} ({DAMAGED}, or renamed)")
    try:
        file = pq.ParquetFile(pa.BufferReader(data))
        table = file.read()
    except (pa.ArrowException, OSError) as error:
        raise Problem(name, f"not a readable Parquet file ({error})") from error
    try:
        check_schema(file, config)
        check_footer(file.metadata, table.num_rows, parquet.row_group_size(FEATURES[config]))
        labels = table.column("label")
        if labels.null_count:
            raise Problem(f"{labels.null_count} labels are null")
        labels = labels.to_numpy()
        for row in np.flatnonzero((labels < 0) | (labels >= len(fm.CLASS_NAMES)))[:1]:
            raise Problem(f"row {row}: label {labels[row]} is not a class index 0-{len(fm.CLASS_NAMES) - 1}")
        images = np.empty((len(labels), fm.IMAGE_SIDE, fm.IMAGE_SIDE), np.uint8)
        (read_arrays if config == "arrays" else read_pngs)(table.column("image").combine_chunks(), images)
    except Problem as problem:
        raise Problem(name, *problem.args) from problem
    return images, labels.astype(np.uint8)


def check_schema(file: pq.ParquetFile, config: str) -> None:
    """The file's columns, Parquet schema, Arrow schema (ARROW:schema) and key-value metadata (the features as
    `datasets` writes them, the content-defined chunking) are those of the files the export writes."""
    expected = reference(config)
    if not file.schema_arrow.remove_metadata().equals(expected.schema_arrow.remove_metadata()):
        raise Problem(f"the columns are {columns(file)}, expected {columns(expected)}")
    found, wanted = file.metadata.metadata or {}, expected.metadata.metadata
    for key in sorted((set(found) | set(wanted)) - {b"ARROW:schema"}):
        if found.get(key) != wanted.get(key):
            where = "missing" if key not in found else "the export writes none" if key not in wanted else None
            raise Problem(
                f"the {key.decode(errors='replace')} metadata: {where or first_difference(wanted[key], found[key])}"
            )
    arrow = b"ARROW:schema" in found and file.schema_arrow.equals(expected.schema_arrow, check_metadata=True)
    if not arrow or not file.schema.equals(expected.schema):
        raise Problem("its Arrow schema (ARROW:schema) or its Parquet schema is not the one the export writes")


def columns(file: pq.ParquetFile) -> str:
    return ", ".join(f"{field.name}: {getattr(field.type, 'storage_type', field.type)}" for field in file.schema_arrow)


@functools.cache
def reference(config: str) -> pq.ParquetFile:
    """An empty Parquet file of `config` as the export writes it: the schema and metadata of every file."""
    empty = datasets.Dataset.from_dict({"image": [], "label": []}, features=FEATURES[config])
    return pq.ParquetFile(pa.BufferReader(parquet.parquet_bytes(empty)))


def check_footer(footer: pq.FileMetaData, rows: int, group_size: int) -> None:
    """The footer's row counts are the rows read, its row groups those the export writes, and it holds nothing that
    readers trust without reading the data: no statistics, page index, bloom filter or sort order."""
    groups = [footer.row_group(index) for index in range(footer.num_row_groups)]
    counts = [group.num_rows for group in groups]
    if footer.num_rows != sum(counts) or footer.num_rows != rows:
        raise Problem(f"the footer gives {footer.num_rows:,} rows, its row groups {sum(counts):,}, the data {rows:,}")
    if counts != [min(group_size, rows - start) for start in range(0, rows, group_size)]:
        raise Problem(f"row groups of {counts} rows, expected {group_size} each but the last ({DAMAGED})")
    for index, group in enumerate(groups):
        chunks = [group.column(column) for column in range(group.num_columns)]
        size = sum(chunk.total_uncompressed_size for chunk in chunks)
        if group.total_byte_size != size:
            raise Problem(f"row group {index}: total_byte_size {group.total_byte_size:,}, its columns' {size:,}")
        if group.sorting_columns:
            raise Problem(f"row group {index}: a sort order, {TRUSTED}")
        for chunk in chunks:
            held = {
                "statistics": chunk.is_stats_set or chunk.is_geo_stats_set,
                "a column index": chunk.has_column_index,
                "an offset index": chunk.has_offset_index,
                "a bloom filter": chunk.bloom_filter_offset is not None,
                "key-value metadata": chunk.metadata,
                "its data in another file": chunk.file_path,
            }
            if any(held.values()):
                what = " and ".join(what for what, present in held.items() if present)
                raise Problem(f"row group {index}, column {chunk.path_in_schema}: {what}, {TRUSTED}")


def read_pngs(column: pa.StructArray, images: np.ndarray) -> None:
    """Fill `images` with the pixels of the column's PNG files, each the file that the builder writes for its pixels
    (one frame, no other chunk, valid CRCs, nothing after IEND), with no path."""
    pngs, paths = column.field("bytes"), column.field("path")
    if column.null_count or pngs.null_count:
        raise Problem("an image is null, or has no bytes")
    for row in np.flatnonzero(paths.is_valid().to_numpy(zero_copy_only=False))[:1]:
        raise Problem(f"row {row}: image.path is {paths[row].as_py()!r}, expected null (the export writes none)")
    for row, png in enumerate(pngs := pngs.to_pylist()):
        try:
            with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
                image.load()
                if image.mode != "L" or image.size != (fm.IMAGE_SIDE, fm.IMAGE_SIDE):
                    size = "x".join(map(str, image.size))
                    raise Problem(f"row {row}: a {size} {image.mode} image, expected 28x28 grayscale (L)")
                images[row] = np.asarray(image)
        except UnidentifiedImageError as error:
            raise Problem(f"row {row}: the image is not a PNG file") from error
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise Problem(f"row {row}: the image is not a readable PNG ({error})") from error
    for row, (png, canonical) in enumerate(zip(pngs, fm.encode_pngs(images), strict=True)):
        if png != canonical:  # another chunk, frame or CRC, or bytes after IEND
            raise Problem(
                f"row {row}: not the PNG file the builder writes for its pixels: {first_difference(canonical, png)}"
            )


def read_arrays(column: pa.Array, images: np.ndarray) -> None:
    """Fill `images` with the column's (28, 28) arrays, stored as lists of rows of pixels."""
    images_lists = column.storage if isinstance(column, pa.ExtensionArray) else column
    rows_lists = images_lists.flatten()
    for lists, what in ((images_lists, "rows"), (rows_lists, "pixels in a row")):
        lengths = pc.fill_null(pc.list_value_length(lists), -1).to_numpy(zero_copy_only=False)
        for index in np.flatnonzero(lengths != fm.IMAGE_SIDE)[:1]:
            row, found = index if what == "rows" else index // fm.IMAGE_SIDE, lengths[index]
            raise Problem(f"row {row}: the image has {'null' if found < 0 else found} {what}, expected 28")
    if (pixels := rows_lists.flatten()).null_count:
        raise Problem(f"{pixels.null_count} pixels are null")
    images[:] = pixels.to_numpy().reshape(images.shape)


def check_bytes(folder: Path, name: str, expected: bytes, what: str) -> None:
    if (found := (folder / name).read_bytes()) != expected:
        raise Problem(name, f"differs from {what}, {first_difference(expected, found)}")


def first_difference(expected: bytes, found: bytes) -> str:
    """Where `found` first differs from `expected`: the line, for text, else the sizes."""
    try:
        pairs = zip([*expected.decode().split("\n"), None], [*found.decode().split("\n"), None], strict=False)
    except UnicodeDecodeError:
        return f"{len(found):,} bytes, expected {len(expected):,}" + (" (other bytes)" * (len(found) == len(expected)))
    number, (want, got) = next((n, pair) for n, pair in enumerate(pairs, 1) if pair[0] != pair[1])
    at = len(os.path.commonprefix([want or "", got or ""]))  # noqa: RUF071 (characters, not paths)
    return f"line {number}: expected {clip(want, at)}, found {clip(got, at)}"


def clip(line: str | None, at: int, width: int = 80) -> str:
    """`line` quoted, cut to `width` characters around position `at`."""
    if line is None:
        return "the end of the file"
    start = max(0, min(at - 20, len(line) - width))
    return ("…" if start else "") + repr(line[start : start + width]) + ("…" if start + width < len(line) else "")


def extra_files(folder: Path) -> list[str]:
    """What `folder` holds besides the export's files and its manifest, sorted (`layout.foreign_entries`)."""
    folder, names = Path(folder), {*layout.TEXT_FILES, layout.MANIFEST}
    for config, split in PARTS:
        names |= {path.relative_to(folder).as_posix() for path in layout.parquet_files(folder, config, split)}
    return sorted(layout.foreign_entries(folder, names))


def report(folder: Path) -> str:
    """What the command prints for an intact export."""
    kind = verify_folder(folder)
    counts = " + ".join(f"{split.num_examples:,} {name}" for name, split in KINDS[kind].items())
    what = f"sample build from dummy/, {counts} examples; not for publishing" if kind == "sample" else None
    lines = [f"verified: {folder} ({what or f'official Fashion-MNIST, {counts} examples'})"]
    return "\n".join(lines + [f"not part of the export (not published): {name}" for name in extra_files(folder)])


def main(argv=None) -> int:
    parser = cli.ArgumentParser(__doc__, prog="tools.verify")
    parser.add_argument("folder", nargs="?", type=cli.path_argument, default=EXPORT_FOLDER, help="the export")
    args = parser.parse_args(argv)
    return cli.run("tools.verify", lambda: print(report(args.folder)), debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
