"""tools.verify on an intact export and on each kind of damage; the export's own check of a damaged cache."""

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import fashion_mnist as fm
from tests.archives import archive_arrays
from tests.fixtures import REPO, SAMPLE_DIR
from tools import export, layout, verify

TRAIN = f"{layout.DATA_FOLDER}/train-*.parquet"


def parquet(split, index, folder=layout.DATA_FOLDER):
    return f"{folder}/{layout.parquet_file_names(split)[index]}"


def arrays_parquet(split, index):
    return parquet(split, index, layout.DATA_FOLDERS["arrays"])


def digests(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    return export.write_folder(export.build(config_name="sample", cache_dir=root / "cache"), root / "hub")


@pytest.fixture
def folder(sample_export, tmp_path):
    """A copy of the sample export, for one test to damage."""
    return shutil.copytree(sample_export, tmp_path / "hub")


# Damage, and the start of what verify says about it.


def replace_in_card(old, new):
    def damage(folder):
        card = folder / "README.md"
        text = card.read_text("utf-8")
        assert old in text
        card.write_text(text.replace(old, new, 1), "utf-8")

    return damage


def rewrite_parquet(name, change):
    """Rewrite a Parquet file with `change(table)`: a valid file, with its schema metadata, holding other data."""

    def damage(folder):
        table = pq.read_table(folder / name)
        pq.write_table(change(table), folder / name)

    return damage


def set_column(table, column, row, value):
    values = table.column(column).to_pylist()
    values[row] = value
    array = pa.array(values, type=table.schema.field(column).type)
    return table.set_column(table.schema.get_field_index(column), table.schema.field(column), array)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def change_a_pixel(table):
    image = np.asarray(Image.open(io.BytesIO(table.column("image")[0]["bytes"].as_py()))).copy()
    image[14, 14] ^= 1
    return set_column(table, "image", 0, {"bytes": png(image), "path": None})


def set_array(table, row, image):
    """`table` with the image of `row` replaced by `image`, a list of lists of pixels, in the arrays' column type."""
    images = table.column("image").to_pylist()
    images[row] = image
    image_type = table.schema.field("image").type
    column = pa.ExtensionArray.from_storage(image_type, pa.array(images, type=image_type.storage_type))
    return table.set_column(table.schema.get_field_index("image"), table.schema.field("image"), column)


def change_an_array_pixel(table):
    image = table.column("image")[0].as_py()
    image[14][14] ^= 1
    return set_array(table, 0, image)


def shorten_a_row_of_an_array(table):
    image = table.column("image")[1].as_py()
    image[3] = image[3][:27]
    return set_array(table, 1, image)


def copy_a_png_file_over_an_arrays_file(folder):
    shutil.copyfile(folder / parquet("test", 0), folder / arrays_parquet("test", 0))


def change_a_label(table):
    return set_column(table, "label", 0, (table.column("label")[0].as_py() + 1) % 10)


def rename_a_class_in_the_metadata(table):
    metadata = table.schema.metadata[b"huggingface"].replace(b'"Coat"', b'"Jacket"')
    return table.replace_schema_metadata({b"huggingface": metadata})


def flip_a_bit_in_a_label_page(folder):
    """Turn label 7 into 6 in a train file's dictionary page, as a single flipped bit on disk would."""
    for index in range(layout.FILES_PER_SPLIT):
        path = folder / parquet("train", index)
        row_group = pq.ParquetFile(path).metadata.row_group(0)
        column = row_group.column(2)
        assert column.path_in_schema == "label"
        data = bytearray(path.read_bytes())
        page = data[column.dictionary_page_offset : column.data_page_offset]
        # Snappy keeps short runs as literals: the page's last dictionary value, an int64, is its last 8 bytes.
        if page.endswith((7).to_bytes(8, "little")):
            before = pq.read_table(path).column("label").to_pylist()
            data[column.data_page_offset - 8] ^= 1
            path.write_bytes(data)
            after = pq.read_table(path).column("label").to_pylist()
            # The dictionary is the first row group's: its rows change, the others do not.
            changed = [6 if label == 7 and row < row_group.num_rows else label for row, label in enumerate(before)]
            assert after == changed != before, "a valid file, other labels"
            return
    raise AssertionError("no train file whose label dictionary ends with 7")


def symlink_a_parquet_file(folder):
    path = folder / parquet("train", 2)
    moved = path.rename(folder.parent / "elsewhere.parquet")
    path.symlink_to(moved)


def symlink_the_data_folder(folder):
    moved = (folder / layout.DATA_FOLDER).rename(folder.parent / "elsewhere")
    (folder / layout.DATA_FOLDER).symlink_to(moved)


def truncate(name):
    def damage(folder):
        path = folder / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return damage


DAMAGE = {
    "missing Parquet file": (
        lambda folder: (folder / parquet("test", 3)).unlink(),
        f"{parquet('test', 3)}: missing",
    ),
    "missing card file": (lambda folder: (folder / "docs/faults.md").unlink(), "docs/faults.md: missing"),
    "symlink in place of a Parquet file": (
        symlink_a_parquet_file,
        f"{parquet('train', 2)}: a symbolic link, not a regular file",
    ),
    "symlink in place of the data folder": (
        symlink_the_data_folder,
        f"{layout.DATA_FOLDER}: a symbolic link, not a folder",
    ),
    "truncated Parquet file": (
        truncate(parquet("train", 1)),
        f"{parquet('train', 1)}: not a readable Parquet file (",
    ),
    "a flipped bit in a label page": (
        flip_a_bit_in_a_label_page,
        f"{TRAIN}: the train split's labels are not Fashion-MNIST's: SHA-256 ",
    ),
    "class renamed in the YAML": (
        replace_in_card("'6': Shirt\n", "'6': Shirts\n"),
        'README.md: dataset_info (arrays).features: class 6 is "Shirts", expected "Shirt"',
    ),
    "class dropped from the YAML": (
        replace_in_card("          '9': Ankle boot\n", ""),
        'README.md: dataset_info (arrays).features: class 9 "Ankle boot" is missing (9 classes, expected 10)',
    ),
    "broken YAML": (
        replace_in_card("license: mit\n", "license: [mit\n"),
        "README.md: the card's YAML does not parse (",
    ),
    "wrong configs": (
        replace_in_card("path: fashion_mnist/test-*", "path: fashion_mnist/train-*"),
        "README.md: configs: the test split's data_files are 'fashion_mnist/train-*', expected 'fashion_mnist/test-*'",
    ),
    "sample warning removed": (
        replace_in_card(layout.SAMPLE_WARNING, ""),
        "README.md: dataset_info (fashion_mnist).splits gives the train split 60 examples, expected 60,000 "
        "(official Fashion-MNIST",
    ),
    "class renamed in a Parquet file's schema metadata": (
        rewrite_parquet(parquet("test", 2), rename_a_class_in_the_metadata),
        f'{parquet("test", 2)}: the features in the schema metadata: class 4 is "Jacket", expected "Coat"',
    ),
    "a row dropped from a Parquet file": (
        rewrite_parquet(parquet("test", 5), lambda table: table.slice(1)),
        f"{parquet('test', 5)}: 4 rows, expected 5 (one of 8 consecutive parts of the test split's 40 examples)",
    ),
    "a label changed in a valid Parquet file": (
        rewrite_parquet(parquet("train", 3), change_a_label),
        f"{TRAIN}: the train split's labels are not Fashion-MNIST's: SHA-256 ",
    ),
    "a label out of range that wraps to a valid byte": (
        rewrite_parquet(parquet("train", 3), lambda table: set_column(table, "label", 1, 256 + 4)),
        f"{parquet('train', 3)}: row 1: label 260 is not a class index 0-9",
    ),
    "a pixel changed in a valid Parquet file": (
        rewrite_parquet(parquet("train", 4), change_a_pixel),
        f"{TRAIN}: the train split's pixels are not Fashion-MNIST's: SHA-256 ",
    ),
    "an image that is not a PNG": (
        rewrite_parquet(
            parquet("test", 7), lambda table: set_column(table, "image", 2, {"bytes": b"GIF89a", "path": None})
        ),
        f"{parquet('test', 7)}: row 2: the image is not a PNG file",
    ),
    "missing arrays file": (
        lambda folder: (folder / arrays_parquet("train", 5)).unlink(),
        f"{arrays_parquet('train', 5)}: missing",
    ),
    "arrays config pointing at the wrong files": (
        replace_in_card("path: arrays/test-*", "path: arrays/train-*"),
        "README.md: configs: the test split's data_files are 'arrays/train-*', expected 'arrays/test-*'",
    ),
    "arrays config missing from configs": (
        replace_in_card("- config_name: arrays\n  data_files:", "- config_name: pixels\n  data_files:"),
        "README.md: configs: the configs are ['fashion_mnist', 'pixels'], expected ['fashion_mnist', 'arrays']",
    ),
    "the arrays' shape changed in the YAML": (
        replace_in_card("        shape:\n        - 28\n        - 28\n", "        shape:\n        - 784\n        - 1\n"),
        "README.md: dataset_info (arrays).features: image is Array2D(shape=(784, 1), dtype='uint8'), expected "
        "Array2D(shape=(28, 28), dtype='uint8')",
    ),
    "a pixel changed in a valid arrays file": (
        rewrite_parquet(arrays_parquet("train", 6), change_an_array_pixel),
        "arrays/train-*.parquet: the train split's pixels are not Fashion-MNIST's: SHA-256 ",
    ),
    "a row of an array cut short": (
        rewrite_parquet(arrays_parquet("test", 1), shorten_a_row_of_an_array),
        f"{arrays_parquet('test', 1)}: row 1: the image has 27 pixels in a row, expected 28",
    ),
    "a PNG file in place of an arrays file": (
        copy_a_png_file_over_an_arrays_file,
        f"{arrays_parquet('test', 0)}: the columns are image: struct<bytes: binary, path: string>, label: int64, "
        "expected image: list<list<uint8>>, label: int64",
    ),
    "an RGB image": (
        rewrite_parquet(
            parquet("test", 7), lambda table: set_column(table, "image", 0, {"bytes": rgb_png(), "path": None})
        ),
        f"{parquet('test', 7)}: row 0: a 28x28 RGB image, expected 28x28 grayscale (L)",
    ),
}


def rgb_png():
    buffer = io.BytesIO()
    Image.new("RGB", (28, 28)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_intact_sample_export_verifies(folder):
    assert verify.verify_folder(folder) == "sample"
    assert verify.extra_files(folder) == []


@pytest.mark.parametrize("damage", DAMAGE)
def test_damage_is_named(folder, damage):
    do_damage, message = DAMAGE[damage]
    do_damage(folder)
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    assert str(raised.value).startswith(f"{folder}/{message}")
    assert "\n" not in str(raised.value)


def test_the_digest_message_gives_both_digests(folder):
    flip_a_bit_in_a_label_page(folder)
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    files = [folder / parquet("train", index) for index in range(layout.FILES_PER_SPLIT)]
    labels = np.concatenate([pq.read_table(path).column("label").to_numpy() for path in files]).astype(np.uint8)
    found, recorded = hashlib.sha256(labels.tobytes()).hexdigest(), fm.SAMPLE_SPLITS[0].labels_sha256
    assert raised.value.problem.endswith(f"SHA-256 {found}, recorded {recorded} (a changed or damaged file)")
    assert found != recorded


def test_extra_files_are_listed_not_refused(folder, capsys):
    (folder / ".env").write_text("HF_TOKEN=secret")
    (folder / "notes.txt").write_text("mine")
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "objects" / "ab").write_text("x")
    (folder / "docs" / "draft.md").write_text("draft")
    (folder / "fashion_mnist" / "train-old").mkdir()  # a folder: datasets' data_files take files only
    (folder / "fashion_mnist" / "train-old" / "x.parquet").write_text("x")
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
    "original, stray",
    [
        (parquet("train", 0), "fashion_mnist/train-extra.parquet"),
        (arrays_parquet("test", 0), "arrays/test-00000-of-00008 (copy).parquet"),
    ],
)
def test_a_stray_file_that_would_join_a_split_is_refused(folder, original, stray):
    """The card's data_files (`fashion_mnist/train-*`) match it: a stream of the split would hold its rows too."""
    shutil.copy(folder / original, folder / stray)
    config, split = stray.split("/")[0], stray.split("/")[1].split("-")[0]
    streamed = datasets.load_dataset(str(folder), config, split=split, streaming=True)
    assert sum(1 for _ in streamed) > {s.split: s.num_examples for s in fm.SAMPLE_SPLITS}[split]
    with pytest.raises(verify.VerificationError) as raised:
        verify.verify_folder(folder)
    assert raised.value.file == stray
    assert "load_dataset would read it into that split" in raised.value.problem


def run_verify(*args):
    environment = {name: value for name, value in os.environ.items() if name != "FASHION_MNIST_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "tools.verify", *args], cwd=REPO, env=environment, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_the_command_names_the_first_thing_wrong_in_one_line(folder):
    (folder / parquet("test", 3)).unlink()
    truncate(parquet("train", 1))(folder)  # the file list comes first
    code, stdout, stderr = run_verify(str(folder))
    assert (code, stdout) == (1, "")
    assert stderr == f"tools.verify: error: {folder}/{parquet('test', 3)}: missing\n"
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


def test_publishing_verifies_first(folder):
    with pytest.raises(export.ExportError, match="it holds a sample build"):
        export.publish("someone/fashion_mnist", folder, token=None, dry_run=True)
    flip_a_bit_in_a_label_page(folder)
    with pytest.raises(export.ExportError) as raised:
        export.publish("someone/fashion_mnist", folder, token=None, dry_run=True)
    assert str(raised.value).startswith(f"Refusing to publish {folder}: {TRAIN}: the train split's labels are not")
    (folder / "README.md").unlink()
    with pytest.raises(export.ExportError, match=re.escape(f"Refusing to publish {folder}: README.md: missing")):
        export.publish("someone/fashion_mnist", folder, token=None, dry_run=True)


# A damaged cache: the export checks what it wrote before it moves it into place.


@pytest.fixture
def cached_build(tmp_path):
    """A finished sample build in its own cache, and an export written from it."""
    builder = export.build(config_name="sample", cache_dir=tmp_path / "cache")
    return builder, export.write_folder(builder, tmp_path / "hub")


def cached_arrow_file(builder, split):
    return next(Path(builder.cache_dir).glob(f"*-{split}.arrow"))


def assert_export_refused(builder, out, before, *expected):
    cache = out.parent / "cache"
    with pytest.raises(export.ExportError) as raised:
        export.write_folder(export.build(config_name="sample", cache_dir=cache), out)
    message = str(raised.value)
    assert message.startswith(f"The prepared dataset in the cache {builder.cache_dir} is damaged: "), message
    assert f"Remove {builder.cache_dir} (or pass another --cache-dir) and export again" in message
    for text in expected:
        assert text in message
    assert digests(out) == before, "the previous export is untouched"
    # The lock file of `--out` stays, empty; nothing else beside it.
    assert sorted(p.name for p in out.parent.iterdir()) == [".hub.lock", "cache", "hub"], "no partial folder left"
    # What the message says to do works: the next export prepares the dataset again and succeeds.
    shutil.rmtree(builder.cache_dir)
    export.write_folder(export.build(config_name="sample", cache_dir=cache), out)
    assert digests(out) == before


def test_a_label_changed_in_the_cached_arrow_file_is_caught(cached_build):
    builder, out = cached_build
    arrow = cached_arrow_file(builder, "train")
    labels = archive_arrays(SAMPLE_DIR, "train")[1]
    data = bytearray(arrow.read_bytes())
    offset = data.find(labels.astype("<i8").tobytes())
    assert offset > 0 and labels[0] == 9
    data[offset] = 0  # train[0]: label 0 instead of 9, the file still valid
    arrow.write_bytes(data)
    assert builder.as_dataset(split="train")["label"][0] == 0
    assert_export_refused(
        builder, out, digests(out), f"fail verification: {TRAIN}: the train split's labels are not Fashion-MNIST's"
    )


def test_a_label_changed_in_the_cached_arrays_is_caught_and_that_cache_named(cached_build):
    builder, out = cached_build
    arrays = export.build_arrays(builder)
    assert arrays.cache_dir != builder.cache_dir
    arrow = cached_arrow_file(arrays, "test")
    labels = archive_arrays(SAMPLE_DIR, "test")[1]
    data = bytearray(arrow.read_bytes())
    offset = data.find(labels.astype("<i8").tobytes())
    assert offset > 0 and labels[0] == 9
    data[offset] = 0
    arrow.write_bytes(data)
    before = digests(out)
    with pytest.raises(export.ExportError) as raised:
        export.write_folder(builder, out)
    assert str(raised.value).startswith(
        f"The prepared dataset in the cache {arrays.cache_dir} is damaged: the files written from it fail "
        "verification: arrays/test-*.parquet: the test split's labels are not Fashion-MNIST's"
    )
    assert digests(out) == before


def test_a_truncated_cached_arrow_file_is_named(cached_build):
    builder, out = cached_build
    arrow = cached_arrow_file(builder, "train")
    arrow.write_bytes(arrow.read_bytes()[:20_000])
    assert_export_refused(builder, out, digests(out), "is damaged: it cannot be read (Expected to be able to read")


# The full export.


@pytest.mark.real
@pytest.mark.slow
def test_a_full_official_export_verifies_and_a_flipped_bit_does_not(official_dir, tmp_path):
    builder = export.build(data_dir=str(official_dir), cache_dir=tmp_path / "cache", num_proc=2)
    folder = export.write_folder(builder, tmp_path / "hub")
    assert verify.verify_folder(folder) == "fashion_mnist"
    assert verify.report(folder) == (
        f"verified: {folder} (official Fashion-MNIST, 60,000 train + 10,000 test examples)"
    )
    plan = export.publish("someone/fashion_mnist", folder, token=None, dry_run=True)
    assert sorted(op.path_in_repo for op in plan["main"]) == layout.export_files()
    flip_a_bit_in_a_label_page(folder)
    with pytest.raises(verify.VerificationError, match=re.escape(f"{TRAIN}: the train split's labels are not")):
        verify.verify_folder(folder)
    with pytest.raises(export.ExportError, match="Refusing to publish"):
        export.publish("someone/fashion_mnist", folder, token=None, dry_run=True)
