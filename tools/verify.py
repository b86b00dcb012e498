"""Check an exported folder end to end: the files, every Parquet file, the row counts, the features and class names
in the card and in the Parquet metadata, and the SHA-256 of every split's pixels and labels against the digests
recorded in fashion_mnist.py, for both configs: `fashion_mnist` (PNG images) and `arrays` (uint8 arrays) hold the same
pixels and labels, so one set of digests checks both.

    .venv/bin/python -m tools.verify              # the export in build/hub
    .venv/bin/python -m tools.verify FOLDER

Prints "verified: FOLDER (...)" and the files found there that are not part of the export, or one line naming the
first thing wrong (exit 1).
"""

import argparse
import io
import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard
from PIL import Image, UnidentifiedImageError

import fashion_mnist as fm
from tools import cli, layout
from tools.common import EXPORT_FOLDER, REPO

FEATURES = {config: fm.features(arrays=config == "arrays") for config in layout.DATA_FOLDERS}
COLUMN_TYPES = {"fashion_mnist": "image: struct, label: int64", "arrays": "image: list<list<uint8>>, label: int64"}
CONFIG_SPLITS = {"fashion_mnist": fm.OFFICIAL_SPLITS, "sample": fm.SAMPLE_SPLITS}
EXTRA = "not part of the export (not published)"


class VerificationError(cli.UserError):
    """An export folder is not a complete, intact export. `file` (relative to `folder`) is the first thing wrong,
    `problem` says what is wrong with it."""

    def __init__(self, folder: Path, file: str, problem: str):
        super().__init__(f"{Path(folder) / file}: {problem}")
        self.folder, self.file, self.problem = Path(folder), file, problem

    @property
    def detail(self) -> str:
        """The message without the folder: the file and what is wrong with it."""
        return f"{self.file}: {self.problem}" if self.file else self.problem


def verify_folder(folder: Path) -> str:
    """Raise `VerificationError` unless `folder` is an intact export; return its config: "fashion_mnist" for the
    official archives, "sample" for the bundled sample."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VerificationError(folder, "", "not a folder" if folder.exists() else "no such folder")
    if folder.resolve() == REPO:
        raise VerificationError(folder, "", f"the repository, not an export (the export writes {EXPORT_FOLDER})")
    for name in layout.export_files():
        check_regular_file(folder, name)
    config = check_card(folder)
    check_no_stray_data_files(folder)
    for data_config in layout.DATA_FOLDERS:
        for split in CONFIG_SPLITS[config]:
            check_split(folder, split, data_config)
    return config


def check_no_stray_data_files(folder: Path) -> None:
    """`load_dataset` reads every file that a config's `data_files` pattern matches: a file there that the export
    did not write would join the split."""
    expected = set(layout.export_files())
    for config in layout.CONFIGS:
        for data_files in config["data_files"]:
            for path in sorted(folder.glob(data_files["path"])):
                name = path.relative_to(folder).as_posix()
                if path.is_file() and name not in expected:
                    raise VerificationError(
                        folder,
                        name,
                        f"not a file of the export, but it matches {data_files['path']}, the card's data_files of "
                        f"the {data_files['split']} split ({config['config_name']}): load_dataset would read it "
                        "into that split. Move it out of the folder",
                    )


def extra_files(folder: Path) -> list[str]:
    """What `folder` holds besides the export's files and its manifest, sorted (`layout.foreign_entries`)."""
    return sorted(layout.foreign_entries(Path(folder), {*layout.export_files(), layout.EXPORT_MANIFEST}))


def check_regular_file(folder: Path, name: str) -> None:
    path = folder
    for part in Path(name).parts:
        path = path / part
        if path.is_symlink():
            kind = "a regular file" if path == folder / name else "a folder"
            raise VerificationError(folder, path.relative_to(folder).as_posix(), f"a symbolic link, not {kind}")
    if not path.exists():
        raise VerificationError(folder, name, "missing")
    if not path.is_file():
        raise VerificationError(folder, name, "not a regular file")


def check_card(folder: Path) -> str:
    """Check the card's YAML: `configs`, the features and the split sizes; return the build's config."""
    try:
        card = DatasetCard.load(folder / "README.md")
    except yaml.YAMLError as error:
        raise VerificationError(
            folder, "README.md", f"the card's YAML does not parse ({yaml_problem(error)})"
        ) from error
    except UnicodeDecodeError as error:
        raise VerificationError(folder, "README.md", f"not UTF-8 text ({error})") from error
    except ValueError as error:
        raise VerificationError(folder, "README.md", f"the card's YAML is not a mapping ({error})") from error
    problem = configs_problem(card.data.get("configs"))
    if problem:
        raise VerificationError(folder, "README.md", f"configs: {problem}")
    try:
        infos = DatasetInfosDict.from_dataset_card_data(card.data)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise VerificationError(folder, "README.md", f"dataset_info cannot be read ({error})") from error
    if sorted(infos) != sorted(layout.DATA_FOLDERS):
        raise VerificationError(
            folder, "README.md", f"dataset_info describes configs {list(infos)}, expected {list(layout.DATA_FOLDERS)}"
        )
    config = "sample" if card.text.lstrip().startswith(layout.SAMPLE_WARNING) else "fashion_mnist"
    for data_config in layout.DATA_FOLDERS:
        info = infos[data_config]
        where = f"dataset_info ({data_config})"
        problem = features_problem(info.features, FEATURES[data_config])
        if problem:
            raise VerificationError(folder, "README.md", f"{where}.features: {problem}")
        for split in CONFIG_SPLITS[config]:
            recorded = info.splits[split.split].num_examples if info.splits and split.split in info.splits else None
            if recorded != split.num_examples:
                raise VerificationError(
                    folder,
                    "README.md",
                    f"{where}.splits gives the {split.split} split {recorded} examples, "
                    f"expected {split.num_examples:,} ({describe(config)})",
                )
    return config


def yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return " ".join(str(error).split())
    # The YAML block starts on the card's second line, after "---".
    return f"{getattr(error, 'problem', None) or error} at line {mark.line + 2}, column {mark.column + 1}"


def configs_problem(configs) -> str | None:
    """What differs between the card's `configs` and the export's layout, or None."""
    if configs == layout.CONFIGS:
        return None
    expected_names = [expected["config_name"] for expected in layout.CONFIGS]
    try:
        names = [config.get("config_name") for config in configs]
        if names != expected_names:
            return f"the configs are {names}, expected {expected_names}"
        for config, expected in zip(configs, layout.CONFIGS, strict=True):
            if config.get("default") != expected.get("default"):
                name = expected["config_name"]
                return f"the {name} config's default is {config.get('default')!r}, expected {expected.get('default')!r}"
            files = {entry.get("split"): entry.get("path") for entry in config.get("data_files")}
            for entry in expected["data_files"]:
                split, path = entry["split"], entry["path"]
                if files.get(split) != path:
                    return f"the {split} split's data_files are {files.get(split)!r}, expected {path!r}"
    except (TypeError, AttributeError, KeyError):
        pass
    return f"{configs!r}, expected {layout.CONFIGS!r}"


def features_problem(features, expected_features) -> str | None:
    """What differs between `features` and `expected_features`, a config's Fashion-MNIST features, or None."""
    if features is None or list(features) != list(expected_features):
        return f"the columns are {list(features or [])}, expected {list(expected_features)}"
    if features["image"] != expected_features["image"]:
        return f"image is {features['image']!r}, expected {expected_features['image']!r}"
    label = features["label"]
    if not isinstance(label, datasets.ClassLabel):
        return f"label is {label!r}, expected a ClassLabel"
    names = list(label.names)
    for index, expected in enumerate(fm.CLASS_NAMES):
        found = names[index] if index < len(names) else None
        if found == expected:
            continue
        count = f" ({len(names)} classes, expected {len(fm.CLASS_NAMES)})" if len(names) != len(fm.CLASS_NAMES) else ""
        if expected not in names and (found is None or found in fm.CLASS_NAMES):
            return f'class {index} "{expected}" is missing{count}'
        return f'class {index} is "{found}", expected "{expected}"{count}'
    if len(names) > len(fm.CLASS_NAMES):
        return f'class {len(fm.CLASS_NAMES)} "{names[len(fm.CLASS_NAMES)]}" is not a Fashion-MNIST class'
    if features != expected_features:
        return f"{features}, expected {expected_features}"
    return None


def part_sizes(num_examples: int, num_files: int) -> list[int]:
    """Rows of each of `num_files` consecutive parts, as `Dataset.shard(contiguous=True)` cuts them."""
    return [len(part) for part in np.array_split(np.arange(num_examples), num_files)]


def check_split(folder: Path, split: fm.SplitArchives, config: str = "fashion_mnist") -> None:
    """Check a split's Parquet files in `config`'s folder, then the SHA-256 of its pixels and labels, decoded in
    file order."""
    images = np.empty((split.num_examples, fm.IMAGE_SIDE, fm.IMAGE_SIDE), np.uint8)
    labels = np.empty(split.num_examples, np.uint8)
    start = 0
    names = layout.parquet_file_names(split.split)
    for name, size in zip(names, part_sizes(split.num_examples, len(names)), strict=True):
        file = f"{layout.DATA_FOLDERS[config]}/{name}"
        table = read_parquet(folder, file, config)
        if table.num_rows != size:
            raise VerificationError(
                folder,
                file,
                f"{table.num_rows:,} rows, expected {size:,} "
                f"(one of {len(names)} consecutive parts of the {split.split} split's {split.num_examples:,} examples)",
            )
        decode(table, images[start : start + size], labels[start : start + size], folder, file, config)
        start += size
    pixels_sha256, labels_sha256 = fm.content_digests(images, labels)
    files = f"{layout.DATA_FOLDERS[config]}/{split.split}-*.parquet"
    for what, found, expected in (
        ("pixels", pixels_sha256, split.pixels_sha256),
        ("labels", labels_sha256, split.labels_sha256),
    ):
        if found != expected:
            raise VerificationError(
                folder,
                files,
                f"the {split.split} split's {what} are not Fashion-MNIST's: SHA-256 {found}, "
                f"recorded {expected} (a changed or damaged file)",
            )


def read_parquet(folder: Path, file: str, config: str = "fashion_mnist") -> pa.Table:
    """The whole table of a Parquet file of `config`, after checking its columns and the features in its
    metadata."""
    try:
        parquet = pq.ParquetFile(folder / file)
        table = parquet.read()
    except (pa.ArrowException, OSError) as error:
        raise VerificationError(folder, file, f"not a readable Parquet file ({error})") from error
    if not table.schema.remove_metadata().equals(FEATURES[config].arrow_schema.remove_metadata()):
        columns = ", ".join(f"{field.name}: {storage_type(field.type)}" for field in table.schema)
        raise VerificationError(folder, file, f"the columns are {columns}, expected {COLUMN_TYPES[config]}")
    metadata = (table.schema.metadata or {}).get(b"huggingface")
    if metadata is None:
        raise VerificationError(folder, file, "the schema metadata has no 'huggingface' key (the features)")
    try:
        features = datasets.Features.from_dict(json.loads(metadata)["info"]["features"])
    except (ValueError, KeyError, TypeError) as error:
        raise VerificationError(
            folder, file, f"the features in the schema metadata cannot be read ({error})"
        ) from error
    problem = features_problem(features, FEATURES[config])
    if problem:
        raise VerificationError(folder, file, f"the features in the schema metadata: {problem}")
    return table


def storage_type(pa_type: pa.DataType) -> pa.DataType:
    return pa_type.storage_type if isinstance(pa_type, pa.ExtensionType) else pa_type


def decode(table: pa.Table, images: np.ndarray, labels: np.ndarray, folder: Path, file: str, config: str) -> None:
    """Fill `images` and `labels` with the table's images (decoded PNGs, or arrays) and its labels."""
    label_column = table.column("label")
    if label_column.null_count:
        raise VerificationError(folder, file, f"{label_column.null_count} labels are null")
    values = label_column.to_numpy()
    invalid = np.flatnonzero((values < 0) | (values >= len(fm.CLASS_NAMES)))
    if invalid.size:
        raise VerificationError(
            folder,
            file,
            f"row {invalid[0]}: label {values[invalid[0]]} is not a class index 0-{len(fm.CLASS_NAMES) - 1}",
        )
    labels[:] = values
    if config == "arrays":
        read_arrays(table, images, folder, file)
        return
    image_column = table.column("image").combine_chunks()
    pngs = image_column.field("bytes")
    if image_column.null_count or pngs.null_count:
        raise VerificationError(folder, file, "an image is null, or has no bytes")
    for row, png in enumerate(pngs.to_pylist()):
        try:
            with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
                image.load()
                if image.mode != "L" or image.size != (fm.IMAGE_SIDE, fm.IMAGE_SIDE):
                    width, height = image.size
                    raise VerificationError(
                        folder, file, f"row {row}: a {width}x{height} {image.mode} image, expected 28x28 grayscale (L)"
                    )
                images[row] = np.frombuffer(image.tobytes(), np.uint8).reshape(fm.IMAGE_SIDE, fm.IMAGE_SIDE)
        except UnidentifiedImageError as error:
            raise VerificationError(folder, file, f"row {row}: the image is not a PNG file") from error
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise VerificationError(folder, file, f"row {row}: the image is not a readable PNG ({error})") from error


def read_arrays(table: pa.Table, images: np.ndarray, folder: Path, file: str) -> None:
    """Fill `images` with the table's (28, 28) arrays, stored as lists of rows of pixels."""
    column = table.column("image").combine_chunks()
    images_lists = column.storage if isinstance(column, pa.ExtensionArray) else column
    rows_lists = images_lists.flatten()
    for lists, what in ((images_lists, "rows"), (rows_lists, "pixels in a row")):
        lengths = pc.fill_null(pc.list_value_length(lists), -1).to_numpy(zero_copy_only=False)
        wrong = np.flatnonzero(lengths != fm.IMAGE_SIDE)
        if wrong.size:
            index = int(wrong[0])
            row = index if lists is images_lists else index // fm.IMAGE_SIDE
            found = "null" if lengths[index] < 0 else lengths[index]
            raise VerificationError(folder, file, f"row {row}: the image has {found} {what}, expected {fm.IMAGE_SIDE}")
    pixels = rows_lists.flatten()
    if pixels.null_count:
        raise VerificationError(folder, file, f"{pixels.null_count} pixels are null")
    images[:] = pixels.to_numpy().reshape(images.shape)


def describe(config: str) -> str:
    splits = CONFIG_SPLITS[config]
    counts = " + ".join(f"{split.num_examples:,} {split.split}" for split in splits)
    if config == "sample":
        return f"sample build from dummy/, {counts} examples; not for publishing"
    return f"official Fashion-MNIST, {counts} examples"


def report(folder: Path) -> str:
    """What the command prints for an intact export."""
    lines = [f"verified: {folder} ({describe(verify_folder(folder))})"]
    lines += [f"{EXTRA}: {name}" for name in extra_files(folder)]
    return "\n".join(lines)


def parse_args(argv):
    parser = cli.ArgumentParser(
        prog="tools.verify", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=cli.path_argument,
        default=EXPORT_FOLDER,
        help=f"the export folder (default: {EXPORT_FOLDER})",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=cli.debug_default(),
        help="show the traceback of an error; FASHION_MNIST_DEBUG=1 does the same",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return cli.run("tools.verify", lambda: print(report(args.folder)), debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
