"""tools.verify on an intact sample export and on each kind of damage, as a copy made elsewhere could hold it: each
damage below returns the start of the one line that verify must print for it (docs/faults.md lists them)."""

import hashlib
import io
import json
import os
import shutil
import zlib
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from PIL import Image

import fashion_mnist as fm
from tests.fixtures import REPO, run_python
from tools import card, layout, parquet, verify

PNG, ARRAYS = layout.DATA_FOLDERS["fashion_mnist"], layout.DATA_FOLDERS["arrays"]
TRUSTED = "which the export does not write and readers trust without reading the data (a changed or damaged file)"
NOT_CANONICAL = "not the PNG file the builder writes for its pixels: "
CARD = "README.md: differs from the card this version writes, line "


@pytest.fixture
def folder(sample_export, tmp_path):
    """A copy of the session's sample export (tests.fixtures), for one test to damage."""
    return shutil.copytree(sample_export[1], tmp_path / "hub")


# Parquet files changed as a copy made elsewhere would be: valid, and named by their new content.


def part(folder: Path, data_folder: str, split: str, index: int) -> str:
    """The name (relative to `folder`) of part `index` of a split's Parquet files."""
    (path,) = (folder / data_folder).glob(f"{split}-{index:05d}-of-*.parquet")
    return path.relative_to(folder).as_posix()


def rename_to_content(folder: Path, name: str) -> str:
    """Give the Parquet file `name` the name that its content gives it; return that name."""
    path = folder / name
    split, index = path.name.split("-")[:2]
    renamed = path.rename(path.with_name(layout.parquet_name(split, int(index), path.read_bytes())))
    return renamed.relative_to(folder).as_posix()


def rewrite(folder: Path, name: str, change=lambda table: table, **options) -> str:
    """Rewrite the Parquet file `name` with `change(table)` as the export writes it (no statistics, the same
    metadata) unless `options` say otherwise; return its new name."""
    table = change(pq.read_table(folder / name))
    options = {"write_statistics": False, "use_compliant_nested_type": False, **options}
    with pq.ParquetWriter(folder / name, table.schema, **options) as writer:
        writer.write_table(table, row_group_size=layout.ROW_GROUP_SIZE)
        writer.add_key_value_metadata({"content_defined_chunking": json.dumps(parquet.CHUNKING)})
    return rename_to_content(folder, name)


def rewritten(data_folder: str, split: str, index: int, change, message: str, **options):
    """A damage: part `index` rewritten with `change`; `message` may name the new file as {name}."""
    return lambda folder: message.format(
        name=rewrite(folder, part(folder, data_folder, split, index), change, **options)
    )


def set_column(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    field = table.schema.field(column)
    storage = pa.array(values, type=getattr(field.type, "storage_type", field.type))
    array = pa.ExtensionArray.from_storage(field.type, storage) if isinstance(field.type, pa.ExtensionType) else storage
    return table.set_column(table.schema.get_field_index(column), field, array)


def first_png(table: pa.Table) -> bytes:
    return table.column("image")[0]["bytes"].as_py()


def png_changed(change, message: str, path: str | None = None):
    """A damage: the first image of the second test file replaced by `change(its PNG file)`, and `path` set;
    `message` may name the sizes of the PNG file, changed ({found}) and the builder's ({expected})."""
    sizes = {}

    def changed(table: pa.Table) -> pa.Table:
        png = first_png(table)
        changed_png = change(png)
        sizes.update(found=f"{len(changed_png):,}", expected=f"{len(png):,}")
        return set_column(table, "image", 0, {"bytes": changed_png, "path": path})

    def damage(folder: Path) -> str:
        name = rewrite(folder, part(folder, PNG, "test", 1), changed)
        return f"{name}: row 0: {message.format(**sizes)}"

    return damage


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def with_text_and_gamma(png: bytes) -> bytes:
    """The PNG file with a tEXt and a gAMA chunk after IHDR (8 bytes of signature, 25 of IHDR)."""
    return png[:33] + png_chunk(b"tEXt", b"Comment\0hello") + png_chunk(b"gAMA", (45455).to_bytes(4, "big")) + png[33:]


def apng(png: bytes) -> bytes:
    """An APNG whose first frame is the PNG file's image (what Pillow decodes) and whose second frame is white."""
    image, buffer = Image.open(io.BytesIO(png)), io.BytesIO()
    image.save(buffer, format="PNG", save_all=True, append_images=[Image.new("L", image.size, 255)])
    return buffer.getvalue()


def break_idat_crc(png: bytes) -> bytes:
    start = png.index(b"IDAT") - 4
    crc = start + 8 + int.from_bytes(png[start : start + 4], "big")
    return png[:crc] + bytes([png[crc] ^ 0xFF]) + png[crc + 1 :]


def rgb_png(png: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (28, 28)).save(buffer, format="PNG")
    return buffer.getvalue()


def change_a_pixel(table: pa.Table) -> pa.Table:
    image = np.asarray(Image.open(io.BytesIO(first_png(table)))).copy()
    image[14, 14] ^= 1
    return set_column(table, "image", 0, {"bytes": next(fm.encode_pngs(image[None])), "path": None})


def change_an_array(row: int, change):
    def do(table):
        image = table.column("image")[row].as_py()
        change(image)
        return set_column(table, "image", row, image)

    return do


def flip_a_pixel(image):
    image[14][14] ^= 1


def cut_a_row(image):
    image[3] = image[3][:27]


def rename_a_class_in_the_metadata(table):
    metadata = table.schema.metadata[b"huggingface"].replace(b'"Coat"', b'"Jacket"')
    return table.replace_schema_metadata({b"huggingface": metadata})


def patch_footer(path: Path, old: bytes, new: bytes) -> None:
    """Replace `old`, which must be in the footer of the Parquet file `path`, by `new` there."""
    data = path.read_bytes()
    start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    assert old in data[start:-8]
    path.write_bytes(data[:start] + data[start:-8].replace(old, new) + data[-8:])


def claim_one_row_more(folder: Path) -> str:
    """The first train file's footer claims one row more than the file holds, as the issue's 7,501 rows did."""
    name = part(folder, PNG, "train", 0)
    rows = pq.ParquetFile(folder / name).metadata.num_rows
    # FileMetaData, compact protocol: field 3 num_rows (0x16: i64, as a zigzag varint: 2n for n < 64), then field 4
    # row_groups (0x19: a list; 0x1c: of 1 struct).
    patch_footer(folder / name, bytes([0x16, 2 * rows, 0x19, 0x1C]), bytes([0x16, 2 * (rows + 1), 0x19, 0x1C]))
    assert ds.dataset(folder / name).count_rows() == rows + 1 != pq.read_table(folder / name).num_rows
    name = rename_to_content(folder, name)
    return f"{name}: the footer gives {rows + 1} rows, its row groups {rows}, the data {rows}"


def without_arrow_schema(folder: Path) -> str:
    """A test file written without its Arrow schema (ARROW:schema), every other key-value metadata kept."""
    name = part(folder, PNG, "test", 2)
    file = pq.ParquetFile(folder / name)
    table, metadata = file.read(), file.metadata.metadata
    with pq.ParquetWriter(folder / name, table.schema, store_schema=False, write_statistics=False) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({key: value for key, value in metadata.items() if key != b"ARROW:schema"})
    assert b"ARROW:schema" not in pq.ParquetFile(folder / name).metadata.metadata
    return f"{rename_to_content(folder, name)}: its Arrow schema (ARROW:schema) or its Parquet schema is not the one"


def with_label_statistics_lying(folder: Path) -> tuple[str, int]:
    """The first train file with label statistics whose max says 3 where it is 9, as the issue found; return its new
    name and how many of its rows are 9s."""
    name = part(folder, PNG, "train", 0)
    nines = pq.read_table(folder / name).column("label").to_pylist().count(9)
    assert nines, "a file with a 9"
    name = rewrite(folder, name, write_statistics=["label"])
    # Plain statistics of an int64 are 8-byte binaries (0x08, the length): the max is the one holding 9.
    patch_footer(folder / name, b"\x08" + (9).to_bytes(8, "little"), b"\x08" + (3).to_bytes(8, "little"))
    return rename_to_content(folder, name), nines


def truncated(folder: Path, renamed: bool) -> str:
    name = part(folder, PNG, "train", 1)
    digest = name[-24:-8]
    (folder / name).write_bytes((folder / name).read_bytes()[:1000])
    if renamed:
        return (
            f"{rename_to_content(folder, name)}: not a readable Parquet file (Parquet magic bytes not found in footer"
        )
    found = layout.parquet_name("train", 1, (folder / name).read_bytes())[-24:-8]
    return f"{name}: its SHA-256 starts with {found}, but its name says {digest}"


def renamed(folder: Path) -> str:
    name = part(folder, PNG, "train", 2)
    digest, other = name[-24:-8], "0123456789abcdef"
    (folder / name).rename(folder / name.replace(digest, other))
    problem = f"its SHA-256 starts with {digest}, but its name says {other} (a changed or damaged file, or renamed)"
    return f"{name.replace(digest, other)}: {problem}"


def a_png_file_in_place_of_an_arrays_file(folder: Path) -> str:
    name = part(folder, ARRAYS, "test", 0)
    shutil.copyfile(folder / part(folder, PNG, "test", 0), folder / name)
    return (
        f"{rename_to_content(folder, name)}: the columns are image: struct<bytes: binary, path: string>, label: "
        "int64, expected image: list<item: list<item: uint8>>, label: int64"
    )


# The other files.


def removed(name_of):
    def damage(folder):
        name = name_of(folder)
        (folder / name).unlink()
        return name

    return damage


def symlinked(folder: Path, name: str) -> None:
    moved = (folder / name).rename(folder.parent / f"elsewhere-{Path(name).name}")
    (folder / name).symlink_to(moved)


def card_edit(old: str, new: str):
    """A damage: `old` replaced by `new` in the card; its message names the first changed line."""

    def damage(folder):
        text = (folder / "README.md").read_text("utf-8")
        assert old in text
        changed = text.replace(old, new)
        (folder / "README.md").write_text(changed, "utf-8")
        for number, (line, new_line) in enumerate(zip(text.split("\n"), changed.split("\n"), strict=False), 1):
            if line != new_line:  # the whole lines, when verify does not cut them
                whole = len(line) <= 80 and len(new_line) <= 80
                return CARD + f"{number}: expected " + (f"{line!r}, found {new_line!r}" if whole else "")
        raise AssertionError("no line changed")

    return damage


def add_a_validation_split(folder: Path) -> str:
    test = "  - name: test\n    num_bytes: "
    return card_edit(test, "  - name: validation\n    num_bytes: 100\n    num_examples: 10\n" + test)(folder)


def hard_link_to_another_file(folder: Path) -> str:
    (folder / "near_duplicates.csv").unlink()
    os.link(folder / "label_issues.csv", folder / "near_duplicates.csv")
    expected, found = (
        card.linked_files()[name].decode().split("\n")[0] for name in ("near_duplicates.csv", "label_issues.csv")
    )
    differs = "differs from the file this version writes"
    assert len(found) > 80  # a line is quoted up to 80 characters, then cut with "…"
    return f"near_duplicates.csv: {differs}, line 1: expected {expected!r}, found {found[:80]!r}…"


def emptied(folder: Path) -> str:
    (folder / "images/examples.png").write_bytes(b"")
    size = len(card.linked_files()["images/examples.png"])
    return f"images/examples.png: differs from the file this version writes, 0 bytes, expected {size:,}"


def a_card_file_removed(folder: Path) -> str:
    (folder / "docs/faults.md").unlink()
    return "docs/faults.md: missing"


DAMAGE = {
    # Parquet files: their names, footers and metadata.
    "a part missing": lambda folder: removed(lambda f: part(f, PNG, "test", 3))(folder)[:-25] + "-*.parquet: missing",
    "an arrays part missing": lambda folder: (
        removed(lambda f: part(f, ARRAYS, "train", 5))(folder)[:-25] + "-*.parquet: missing"
    ),
    "a file renamed, its digest no longer matching": renamed,
    "a file cut short": lambda folder: truncated(folder, renamed=False),
    "a file cut short, renamed to its digest": lambda folder: truncated(folder, renamed=True),
    "a symbolic link in place of a Parquet file": lambda folder: (
        symlinked(folder, name := part(folder, PNG, "train", 2)) or f"{name}: a symbolic link, not a regular file"
    ),
    "a symbolic link in place of the data folder": lambda folder: (
        symlinked(folder, PNG) or f"{PNG}: a symbolic link, not a folder"
    ),
    "label statistics added": rewritten(
        PNG,
        "train",
        3,
        lambda t: t,
        "{name}: row group 0, column label: statistics, " + TRUSTED,
        write_statistics=["label"],
    ),
    "label statistics changed (max 9 set to 3)": lambda folder: (
        f"{with_label_statistics_lying(folder)[0]}: row group 0, column label: statistics, {TRUSTED}"
    ),
    "a page index": rewritten(
        ARRAYS,
        "test",
        2,
        lambda t: t,
        "{name}: row group 0, column image.list.item.list.item: an offset index, " + TRUSTED,
        write_page_index=True,
    ),
    "no Arrow schema": without_arrow_schema,
    "lists named as the Parquet format names them": rewritten(
        ARRAYS,
        "test",
        2,
        lambda t: t,
        "{name}: its Arrow schema (ARROW:schema) or its Parquet schema is not the one the export writes",
        use_compliant_nested_type=True,
    ),
    "a footer claiming one row more": claim_one_row_more,
    "a row dropped": rewritten(
        PNG,
        "test",
        5,
        lambda t: t.slice(1),
        "{name}: 4 rows, expected 5 (one of 8 consecutive parts of the test split's 40 examples)",
    ),
    "a PNG file in place of an arrays file": a_png_file_in_place_of_an_arrays_file,
    "class renamed in a file's schema metadata": rewritten(
        PNG,
        "test",
        2,
        rename_a_class_in_the_metadata,
        '{name}: the huggingface metadata: line 1: expected …\'ullover", "Dress", "Coat"',
    ),
    # Labels and images.
    "a label changed": rewritten(
        PNG,
        "train",
        3,
        lambda t: set_column(t, "label", 0, (t.column("label")[0].as_py() + 1) % 10),
        f"{PNG}/train-*.parquet: the train split's labels are not Fashion-MNIST's: SHA-256 ",
    ),
    "a label of 260": rewritten(
        PNG, "train", 3, lambda t: set_column(t, "label", 1, 260), "{name}: row 1: label 260 is not a class index 0-9"
    ),
    "a pixel changed": rewritten(
        PNG,
        "train",
        4,
        change_a_pixel,
        f"{PNG}/train-*.parquet: the train split's pixels are not Fashion-MNIST's: SHA-256 ",
    ),
    "bytes after IEND": png_changed(
        lambda png: png + bytes(60_000), NOT_CANONICAL + "{found} bytes, expected {expected}"
    ),
    "an APNG with a white second frame": png_changed(apng, NOT_CANONICAL + "{found} bytes, expected {expected}"),
    "a broken IDAT CRC": png_changed(
        break_idat_crc, NOT_CANONICAL + "{found} bytes, expected {expected} (other bytes)"
    ),
    "tEXt and gAMA chunks added": png_changed(
        with_text_and_gamma, NOT_CANONICAL + "{found} bytes, expected {expected}"
    ),
    "image.path set": png_changed(
        lambda png: png,
        "image.path is '/home/someone/0.png', expected null (the export writes none)",
        "/home/someone/0.png",
    ),
    "an image that is not a PNG": png_changed(lambda png: b"GIF89a", "the image is not a PNG file"),
    "an RGB image": png_changed(rgb_png, "a 28x28 RGB image, expected 28x28 grayscale (L)"),
    "a pixel changed in an array": rewritten(
        ARRAYS,
        "train",
        6,
        change_an_array(0, flip_a_pixel),
        f"{ARRAYS}/train-*.parquet: the train split's pixels are not Fashion-MNIST's: SHA-256 ",
    ),
    "a row of an array cut short": rewritten(
        ARRAYS, "test", 1, change_an_array(1, cut_a_row), "{name}: row 1: the image has 27 pixels in a row, expected 28"
    ),
    # The card and the files it links to.
    "card body changed": card_edit(
        "# Dataset Card for Fashion-MNIST\n", "# Dataset Card for Fashion-MNIST, improved\n"
    ),
    "license: other": card_edit("license: mit\n", "license: other\n"),
    "viewer: false added": card_edit("---\n", "---\nviewer: false\n"),
    "extra_gated_prompt added": card_edit("license: mit\n", "license: mit\nextra_gated_prompt: Tell us who you are\n"),
    "class renamed in the YAML": card_edit("'6': Shirt\n", "'6': Shirts\n"),
    "a validation split in each dataset_info": add_a_validation_split,
    "the sample warning removed": card_edit(layout.SAMPLE_WARNING + "\n\n", ""),
    "images/examples.png emptied": emptied,
    "near_duplicates.csv a hard link to another file": hard_link_to_another_file,
    "a card file removed": a_card_file_removed,
}


def test_an_intact_sample_export_verifies(folder):
    assert verify.verify_folder(folder) == "sample"
    assert verify.extra_files(folder) == []


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_is_named(folder, damage):
    message = DAMAGE[damage](folder)
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    assert str(raised.value).startswith(f"{folder}/{message}"), raised.value.detail
    assert "\n" not in str(raised.value)


def test_readers_trust_lying_statistics_and_verify_refuses_them(folder):
    """What the issue found: with the max of the label statistics set to 3, a filter for 9 skips the row group."""
    name, nines = with_label_statistics_lying(folder)
    assert pq.read_table(folder / name, filters=[("label", "==", 9)]).num_rows == 0 < nines
    with pytest.raises(verify.VerificationError, match="column label: statistics, which the export does not write"):
        verify.verify_folder(folder)


def test_the_digest_message_gives_both_digests(folder):
    rewrite(
        folder, part(folder, PNG, "train", 3), lambda t: set_column(t, "label", 0, 9 - t.column("label")[0].as_py())
    )
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    paths = layout.parquet_files(folder, "fashion_mnist", "train")
    labels = np.concatenate([pq.read_table(path).column("label").to_numpy() for path in paths]).astype(np.uint8)
    found, recorded = hashlib.sha256(labels.tobytes()).hexdigest(), fm.SAMPLE_SPLITS[0].labels_sha256
    assert found != recorded
    assert raised.value.problem.endswith(f"SHA-256 {found}, recorded {recorded} (a changed or damaged file)")


def test_extra_files_are_listed_not_refused(folder, capsys):
    (folder / ".env").write_text("HF_TOKEN=secret")
    (folder / ".tools-export.json").write_text("{}")  # tools.export's manifest: neither checked nor listed
    (folder / "notes.txt").write_text("mine")
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "objects" / "ab").write_text("x")
    (folder / "docs" / "draft.md").write_text("draft")
    (folder / PNG / "train-old").mkdir()  # a folder: datasets' data_files take files only
    (folder / PNG / "train-old" / "x.parquet").write_text("x")
    assert verify.main([str(folder)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"verified: {folder} (sample build from dummy/, 60 train + 40 test examples; not for publishing)",
        "not part of the export (not published): .env",
        "not part of the export (not published): .git/",
        "not part of the export (not published): docs/draft.md",
        "not part of the export (not published): fashion_mnist/train-old/",
        "not part of the export (not published): notes.txt",
    ]


@pytest.mark.parametrize(
    "config, split, index, stray",
    [
        ("fashion_mnist", "train", 0, "fashion_mnist/train-extra.parquet"),
        ("arrays", "test", 0, "arrays/test-00000-of-00008 (copy).parquet"),
        ("fashion_mnist", "test", 4, None),  # a second part 4, under the name of its own content
    ],
)
def test_a_stray_file_that_would_join_a_split_is_refused(folder, config, split, index, stray):
    """The card's data_files (`fashion_mnist/train-*`) match it: a stream of the split would hold its rows too."""
    original = part(folder, layout.DATA_FOLDERS[config], split, index)
    if stray is None:
        stray = f"{original[:-25]}-{'f' * 16}.parquet"
    shutil.copy(folder / original, folder / stray)
    streamed = datasets.load_dataset(str(folder), config, split=split, streaming=True)
    assert sum(1 for _ in streamed) > {s.split: s.num_examples for s in fm.SAMPLE_SPLITS}[split]
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    assert raised.value.file == stray
    assert "load_dataset would read it into that split. Move it out of the folder" in raised.value.problem


def run_verify(*args):
    return run_python("-m", "tools.verify", *args, timeout=300)


def test_the_command_names_the_first_thing_wrong_in_one_line(folder):
    missing = removed(lambda f: part(f, PNG, "test", 3))(folder)
    truncated(folder, renamed=True)  # the file list comes first
    code, stdout, stderr = run_verify(str(folder))
    assert (code, stdout) == (1, "")
    assert stderr == f"tools.verify: error: {folder}/{missing[:-25]}-*.parquet: missing\n"
    code, _, stderr = run_verify(str(folder), "--debug")
    assert code == 1 and "Traceback" in stderr and "VerificationError" in stderr


def test_the_command_on_a_missing_folder(tmp_path):
    assert run_verify(str(tmp_path / "nothing")) == (
        1,
        "",
        f"tools.verify: error: {tmp_path}/nothing: no such folder\n",
    )


def test_the_command_refuses_an_empty_path_and_the_repository():
    assert run_verify("") == (
        2,
        "",
        "tools.verify: error: argument folder: an empty path is not a folder (--help lists the options)\n",
    )
    code, _, stderr = run_verify(".")  # run in the repository
    assert (code, stderr) == (
        1,
        f"tools.verify: error: .: the repository, not an export (the export writes {REPO}/build/hub)\n",
    )


@pytest.mark.real
def test_the_official_export_verifies_and_lying_statistics_do_not(official_export, tmp_path):
    official = official_export[1]
    assert verify.verify_folder(official) == "fashion_mnist"
    expected = f"verified: {official} (official Fashion-MNIST, 60,000 train + 10,000 test examples)"
    assert verify.report(official) == expected
    folder = shutil.copytree(official, tmp_path / "hub")
    name, nines = with_label_statistics_lying(folder)
    assert nines > 0
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    assert raised.value.detail.startswith(f"{name}: row group 0, column label: statistics"), raised.value.detail
