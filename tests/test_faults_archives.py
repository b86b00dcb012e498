"""Bad archives, through `data_dir` and through the download path: each ends in an `ArchiveError` (or,
when the only host served it, an `ArchiveUnavailableError`) naming the file and the problem, raised
before any split is written; the cache holds no finished dataset, and the next build with the good
archives succeeds in the same cache.

Each altered archive is built from the bundled sample and tried under two sets of checksums:

- published: the sample's own checksums. Every alteration must fail verification (size or SHA-256).
- declared: checksums computed from the altered bytes, so verification passes and the strict gzip and
  IDX readers are what must catch the problem.
"""

import dataclasses
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays
from tests.faults import (
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    assert_no_finished_dataset,
    assert_sample_rows,
    declared_splits,
    sample_files,
    write_files,
)
from tests.fixtures import SAMPLE_DIR
from tests.misbehaving_server import HTML_PAGE, MisbehavingServer
from tools import cli, paths
from tools.common import gzip_bytes, idx_bytes

GOOD = sample_files()
IMAGES, LABELS = archive_arrays(SAMPLE_DIR, "train")  # 60 train examples
IMAGES_IDX, LABELS_IDX = idx_bytes(IMAGES), idx_bytes(LABELS)
# Valid archives of as many examples as the sample's, with other pixels and labels.
FAKES = {
    name: gzip_bytes(idx_bytes(255 - images)) if "images" in name else gzip_bytes(idx_bytes((labels + 1) % 10))
    for split in ("train", "test")
    for images, labels in [archive_arrays(SAMPLE_DIR, split)]
    for name in {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}[split]
}


def cut(data: bytes, offset: int) -> bytes:
    return data[:offset]


def flip(data: bytes, offset: int) -> bytes:
    """`data` with every bit of one byte inverted; a negative offset counts from the end."""
    altered = bytearray(data)
    altered[offset] ^= 0xFF
    return bytes(altered)


def images_header(magic: int, *dims: int) -> bytes:
    return struct.pack(f">{1 + len(dims)}I", magic, *dims)


def with_label(index: int, value: int) -> bytes:
    labels = LABELS.copy()
    labels[index] = value
    return gzip_bytes(idx_bytes(labels))


@dataclasses.dataclass(frozen=True)
class Variant:
    id: str
    alter: Callable[[dict[str, bytes]], dict[str, bytes]]  # the good files -> the replaced ones
    # What the readers must report when the checksums are declared from the altered bytes;
    # None when the alteration is a valid archive that only a checksum can tell apart.
    problem: str | None


VARIANTS = [
    Variant("empty", lambda f: {TRAIN_IMAGES: b""}, "empty file"),
    Variant("not gzip: the uncompressed IDX", lambda f: {TRAIN_IMAGES: IMAGES_IDX}, "not a valid gzip file"),
    Variant("not gzip: text", lambda f: {TRAIN_LABELS: b"labels go here\n"}, "not a valid gzip file"),
    Variant("HTML page", lambda f: {TEST_IMAGES: HTML_PAGE}, "not a valid gzip file"),
    *(
        Variant(f"gzip cut at {name}", lambda f, o=offset: {TRAIN_IMAGES: cut(f[TRAIN_IMAGES], o)}, "not a valid gzip")
        for name, offset in [
            ("1 byte", 1),
            ("10 bytes (header)", 10),
            ("5,000 bytes", 5_000),
            ("the middle", len(GOOD[TRAIN_IMAGES]) // 2),
            ("the trailer", -8),
            ("the last byte", -1),
        ]
    ),
    Variant("gzip cut: test labels", lambda f: {TEST_LABELS: cut(f[TEST_LABELS], -3)}, "not a valid gzip"),
    *(
        Variant(f"compressed byte flipped: {name}", lambda f, o=offset: {TRAIN_IMAGES: flip(f[TRAIN_IMAGES], o)}, error)
        for name, offset, error in [
            ("gzip flags", 3, "not a valid gzip file"),
            ("deflate block header", 10, "not a valid gzip file"),
            ("deflate data", len(GOOD[TRAIN_IMAGES]) // 2, "CRC check failed"),
            ("CRC-32", -8, "CRC check failed"),
            ("length", -2, "Incorrect length"),
        ]
    ),
    *(
        Variant(
            f"payload byte flipped: {name}", lambda f, o=offset: {TRAIN_IMAGES: gzip_bytes(flip(IMAGES_IDX, o))}, error
        )
        for name, offset, error in [
            ("magic", 3, r"IDX magic number 0x000008fc \(not Fashion-MNIST\)"),
            ("count, high byte", 4, r"header announces 4278190140x28x28 values"),
            ("count, low byte", 7, r"header announces 195x28x28 values"),
            ("rows", 11, r"header announces 60x227x28 values"),
            ("a pixel", 16 + 400, None),
        ]
    ),
    Variant(
        "payload byte flipped: a label",
        lambda f: {TRAIN_LABELS: gzip_bytes(flip(LABELS_IDX, 8 + 5))},
        rf"label {255 - LABELS[5]} at index 5 is not a class index 0-9",
    ),
    Variant(
        "bad magic",
        lambda f: {TRAIN_IMAGES: gzip_bytes(images_header(0x12345678, 60, 28, 28) + IMAGES.tobytes())},
        r"IDX magic number 0x12345678 \(not Fashion-MNIST\), expected 0x00000803",
    ),
    Variant(
        "rank 4 images",
        lambda f: {TRAIN_IMAGES: gzip_bytes(images_header(0x0804, 60, 1, 28, 28) + IMAGES.tobytes())},
        r"IDX magic number 0x00000804 \(not Fashion-MNIST\), expected 0x00000803",
    ),
    Variant(
        "rank 2 labels",
        lambda f: {TRAIN_LABELS: gzip_bytes(images_header(0x0802, 60, 1) + LABELS.tobytes())},
        r"IDX magic number 0x00000802 \(not Fashion-MNIST\), expected 0x00000801",
    ),
    Variant(
        "float32 images",
        lambda f: {TRAIN_IMAGES: gzip_bytes(images_header(0x0D03, 60, 28, 28) + IMAGES.astype(">f4").tobytes())},
        r"IDX magic number 0x00000d03",
    ),
    Variant("27x28 images", lambda f: {TRAIN_IMAGES: gzip_bytes(idx_bytes(IMAGES[:, :27]))}, "images are 27x28"),
    Variant(
        "60 images, 59 labels",
        lambda f: {TRAIN_LABELS: gzip_bytes(idx_bytes(LABELS[:59]))},
        f"{TRAIN_IMAGES} holds 60 images but {TRAIN_LABELS} holds 59 labels",
    ),
    Variant("label 10", lambda f: {TRAIN_LABELS: with_label(7, 10)}, "label 10 at index 7"),
    Variant("label 255", lambda f: {TRAIN_LABELS: with_label(0, 255)}, "label 255 at index 0"),
    Variant(
        "test label 10",
        lambda f: {TEST_LABELS: gzip_bytes(idx_bytes(np.full(40, 10, np.uint8)))},
        r"label 10 at index 0 is not a class index 0-9 \(40 such labels\)",
    ),
    Variant(
        "images payload 1 byte short",
        lambda f: {TRAIN_IMAGES: gzip_bytes(IMAGES_IDX[:-1])},
        "the file holds 47,055 bytes",
    ),
    Variant(
        "images payload 1 byte long",
        lambda f: {TRAIN_IMAGES: gzip_bytes(IMAGES_IDX + b"\x00")},
        "the file holds 47,057 bytes",
    ),
    Variant("labels payload 1 byte short", lambda f: {TRAIN_LABELS: gzip_bytes(LABELS_IDX[:-1])}, "holds 67 bytes"),
    Variant("labels payload 1 byte long", lambda f: {TRAIN_LABELS: gzip_bytes(LABELS_IDX + b"\x01")}, "holds 69 bytes"),
    Variant(
        "header claims 4 billion images",
        lambda f: {TRAIN_IMAGES: gzip_bytes(images_header(0x0803, 0xFFFF_FFFF, 28, 28) + IMAGES.tobytes())},
        r"header announces 4294967295x28x28 values \(3,367,254,359,296 bytes with the header\)",
    ),
    Variant(
        "header claims 4 billion labels",
        lambda f: {TRAIN_LABELS: gzip_bytes(images_header(0x0801, 0xFFFF_FFFF) + LABELS.tobytes())},
        r"header announces 4294967295 values",
    ),
    Variant(
        "images and labels swapped",
        lambda f: {TRAIN_IMAGES: f[TRAIN_LABELS], TRAIN_LABELS: f[TRAIN_IMAGES]},
        rf"{re.escape(TRAIN_IMAGES)}: IDX magic number 0x00000801 \(labels\), expected 0x00000803 \(images",
    ),
    Variant(
        "test archives passed as train",
        lambda f: {TRAIN_IMAGES: f[TEST_IMAGES], TRAIN_LABELS: f[TEST_LABELS]},
        f"{TRAIN_IMAGES} holds 40 examples, expected 60 for the train split",
    ),
    Variant(
        "train archives passed as test",
        lambda f: {TEST_IMAGES: f[TRAIN_IMAGES], TEST_LABELS: f[TRAIN_LABELS]},
        f"{TEST_IMAGES} holds 60 examples, expected 40 for the test split",
    ),
]

CASES = [
    pytest.param(variant, checksums, id=f"{checksums}: {variant.id}")
    for variant in VARIANTS
    for checksums in ("published", "declared")
    if checksums == "published" or variant.problem is not None
]


@pytest.fixture
def generation_calls(monkeypatch):
    """Records each start of example generation: a bad archive must fail before the first one."""
    calls = []
    generate = fm.FashionMnist._generate_examples

    def spy(self, split, **kwargs):
        calls.append(split)
        yield from generate(self, split, **kwargs)

    monkeypatch.setattr(fm.FashionMnist, "_generate_examples", spy)
    return calls


def expected_error(variant: Variant, checksums: str, source: str, location: str):
    """The exception type and message pattern a build must end in."""
    altered = variant.alter(GOOD)
    if checksums == "declared":
        # Verification passes, so the reader's error comes out as it is, wherever the bytes came from.
        return fm.ArchiveError, variant.problem
    # The first altered archive in build order fails verification.
    name = next(n for n in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS) if n in altered)
    problem = rf"{re.escape(location + name)}: ([\d,]+ bytes, but {re.escape(name)} has [\d,]+ bytes|SHA-256 mismatch)"
    if source == "data_dir":
        return fm.ArchiveError, problem
    # The only host served bad bytes: no host worked, and the message says what each one gave.
    return fm.ArchiveUnavailableError, rf"Could not get a valid {re.escape(name)} from any host(.|\n)*{problem}"


@pytest.mark.parametrize("source", ["data_dir", "download"])
@pytest.mark.parametrize(("variant", "checksums"), CASES)
def test_bad_archive_fails_before_writing_and_leaves_the_cache_usable(
    tmp_path, generation_calls, variant, checksums, source
):
    altered = {**GOOD, **variant.alter(GOOD)}
    cache_dir = tmp_path / "cache"
    kwargs = {"config_name": "sample"}
    if checksums == "declared":
        kwargs["splits"] = declared_splits(altered)
    with MisbehavingServer(altered) as server:
        if source == "data_dir":
            data_dir = write_files(tmp_path / "archives", altered)
            kwargs["data_dir"] = str(data_dir)
            location = str(data_dir) + "/"
        else:
            kwargs["base_urls"] = (server.url,)
            location = server.url
        error_type, problem = expected_error(variant, checksums, source, location)

        builder = fm.FashionMnist(cache_dir=str(cache_dir), **kwargs)
        with pytest.raises(error_type, match=problem):
            builder.download_and_prepare()
        assert generation_calls == [], "the error must come before any split is generated"
        assert_no_finished_dataset(cache_dir, **kwargs)

        # The good archives, at the same place, build in the same cache.
        if source == "data_dir":
            write_files(data_dir, GOOD)
        else:
            server.files.update(GOOD)
        kwargs.pop("splits", None)
        builder = fm.FashionMnist(cache_dir=str(cache_dir), **kwargs)
        builder.download_and_prepare()
        assert_sample_rows(builder)


def test_a_bad_archive_in_a_relative_data_dir_is_reported_and_kept(tmp_path, monkeypatch):
    """A relative data_dir is read from the working directory, and a bad local archive is never deleted."""
    write_files(tmp_path / "archives", {**GOOD, TEST_LABELS: cut(GOOD[TEST_LABELS], 20)})
    monkeypatch.chdir(tmp_path)
    builder = fm.FashionMnist(cache_dir="cache", config_name="sample", data_dir="archives")
    with pytest.raises(fm.ArchiveError, match=rf"{tmp_path}/archives/{TEST_LABELS}: 20 bytes, but {TEST_LABELS}"):
        builder.download_and_prepare()
    assert (tmp_path / "archives" / TEST_LABELS).read_bytes() == cut(GOOD[TEST_LABELS], 20)

    write_files(tmp_path / "archives", GOOD)
    builder = fm.FashionMnist(cache_dir="cache", config_name="sample", data_dir="archives")
    builder.download_and_prepare()
    assert_sample_rows(builder)


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("missing folder", "{folder} does not exist: give the folder that holds {names}"),
        ("a file", "{folder} is not a folder: give the folder that holds {names}"),
        ("an archive missing", "{folder} has no t10k-labels-idx1-ubyte.gz: give the folder that holds {names}"),
        ("an archive a folder", "{folder}: t10k-labels-idx1-ubyte.gz is not a file"),
    ],
)
def test_a_wrong_data_dir_gets_the_message_of_the_tools_before_any_split_is_generated(
    tmp_path, generation_calls, case, problem
):
    folder = tmp_path / "archives"
    if case == "a file":
        folder.write_text("not a folder\n")
    elif case != "missing folder":
        write_files(folder, {name: data for name, data in GOOD.items() if name != TEST_LABELS})
        if case == "an archive a folder":
            (folder / TEST_LABELS).mkdir()
    problem = problem.format(folder=folder, names=", ".join([TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]))
    builder = fm.FashionMnist(config_name="sample", data_dir=str(folder), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as error:
        builder.download_and_prepare()
    assert str(error.value) == f"data_dir {problem}"
    assert generation_calls == []
    with pytest.raises(cli.UserError) as tool_error:
        paths.check_data_dir(folder, fm.SAMPLE_SPLITS)
    assert str(tool_error.value) == f"--data-dir {problem}"


@pytest.mark.parametrize("source", ["data_dir", "download"])
def test_an_archive_file_replaced_right_after_it_was_read_changes_nothing(tmp_path, monkeypatch, source):
    """The bytes verified are the bytes parsed: each archive file is read once per build, its bytes hashed and
    decoded, and never opened again. Replacing every file by a valid fake right after that read changes
    nothing in the build."""
    reads, verified = [], []
    read_bytes, verify_archive = fm._read_bytes, fm.verify_archive

    def read_then_replace(location):
        data = read_bytes(location)
        reads.append(location)
        Path(location).write_bytes(FAKES[next(name for name, good in GOOD.items() if good == data)])
        return data

    def count_verification(data, archive, source):
        verified.append(archive.filename)
        verify_archive(data, archive, source)

    monkeypatch.setattr(fm, "_read_bytes", read_then_replace)
    monkeypatch.setattr(fm, "verify_archive", count_verification)
    with MisbehavingServer(GOOD) as server:
        if source == "data_dir":
            kwargs = {"data_dir": str(write_files(tmp_path / "archives", GOOD))}
        else:
            kwargs = {"base_urls": (server.url,)}
        builder = fm.FashionMnist(cache_dir=str(tmp_path / "cache"), config_name="sample", **kwargs)
        builder.download_and_prepare()
    assert_sample_rows(builder)
    assert verified == [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
    if source == "data_dir":
        assert [Path(location).name for location in reads] == verified
    else:
        assert {Path(location).parent for location in reads} == {tmp_path / "cache" / "downloads"}
    assert len(set(reads)) == 4
    assert sorted(Path(location).read_bytes() for location in reads) == sorted(FAKES.values()), "files replaced"


def test_a_bad_archive_behind_a_file_url_is_reported_and_kept(tmp_path):
    """For a file:// URL the download manager returns the user's own file: a bad one is named, never deleted."""
    bad = {**GOOD, TRAIN_LABELS: cut(GOOD[TRAIN_LABELS], 20)}
    folder = write_files(tmp_path / "archives", bad)
    base_url = folder.as_uri() + "/"
    url = base_url + TRAIN_LABELS
    builder = fm.FashionMnist(cache_dir=str(tmp_path / "cache"), config_name="sample", base_urls=(base_url,))
    with pytest.raises(fm.ArchiveUnavailableError) as error:
        builder.download_and_prepare()
    assert (
        f"\n  {url}: ArchiveError: {url}: 20 bytes, but {TRAIN_LABELS} has 66 bytes (truncated, or not the archive)\n"
        in str(error.value)
    )
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == bad, "every file is kept as it was"
    assert_no_finished_dataset(tmp_path / "cache", config_name="sample", base_urls=(base_url,))

    write_files(folder, GOOD)
    builder = fm.FashionMnist(cache_dir=str(tmp_path / "cache"), config_name="sample", base_urls=(base_url,))
    builder.download_and_prepare()
    assert_sample_rows(builder)


def test_a_bad_bundled_sample_archive_is_reported_and_kept(tmp_path):
    """The sample's archives are found relative to the script (base_path): one that fails is not deleted."""
    write_files(tmp_path / fm.SAMPLE_DIR, {**GOOD, TRAIN_LABELS: b""})
    builder = fm.FashionMnist(cache_dir=str(tmp_path / "cache"), config_name="sample", base_path=str(tmp_path))
    with pytest.raises(fm.ArchiveError, match=rf"{fm.SAMPLE_DIR}/{TRAIN_LABELS}: 0 bytes, but {TRAIN_LABELS} has 66"):
        builder.download_and_prepare()
    assert (tmp_path / fm.SAMPLE_DIR / TRAIN_LABELS).exists()


REAL_VARIANTS = [
    pytest.param(
        {TRAIN_IMAGES: lambda f: cut(f[TRAIN_IMAGES], len(f[TRAIN_IMAGES]) // 2)}, id="train images cut in half"
    ),
    pytest.param({TRAIN_IMAGES: lambda f: cut(f[TRAIN_IMAGES], -1)}, id="train images without the last byte"),
    pytest.param({TEST_IMAGES: lambda f: flip(f[TEST_IMAGES], 100_000)}, id="test images, a compressed byte flipped"),
    pytest.param({TRAIN_LABELS: lambda f: f[TRAIN_LABELS] + b"\x00"}, id="train labels, a byte appended"),
    pytest.param(
        {TRAIN_IMAGES: lambda f: f[TEST_IMAGES], TRAIN_LABELS: lambda f: f[TEST_LABELS]}, id="test archives as train"
    ),
]


@pytest.mark.real
@pytest.mark.parametrize("source", ["data_dir", "download"])
@pytest.mark.parametrize("alterations", REAL_VARIANTS)
def test_an_altered_official_archive_fails_verification_before_writing(
    tmp_path, official_dir, generation_calls, alterations, source
):
    official = {path.name: path.read_bytes() for path in official_dir.glob("*.gz")}
    altered = {**official, **{name: alter(official) for name, alter in alterations.items()}}
    # The builder verifies in this order, and stops at the first bad archive.
    first_altered = next(name for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS) if name in alterations)
    with MisbehavingServer(altered) as server:
        if source == "data_dir":
            kwargs = {"data_dir": str(write_files(tmp_path / "archives", altered))}
            location, error_type = f"{tmp_path}/archives/{first_altered}", fm.ArchiveError
        else:
            kwargs = {"base_urls": (server.url,)}
            location, error_type = server.url + first_altered, fm.ArchiveUnavailableError
        problem = r"([\d,]+ bytes, but|SHA-256 mismatch)"
        with pytest.raises(error_type, match=rf"{re.escape(location)}: {problem}"):
            fm.FashionMnist(cache_dir=str(tmp_path / "cache"), **kwargs).download_and_prepare()
    assert generation_calls == []
    assert_no_finished_dataset(tmp_path / "cache", **kwargs)
