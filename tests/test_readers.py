"""The pure readers and the PNG encoder, on small arrays made here."""

import gzip
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

import fashion_mnist as fm
from tools.common import idx_bytes

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
LABELS = np.array([0, 9, 3, 3, 7], dtype=np.uint8)


def test_read_images_returns_the_pixels():
    np.testing.assert_array_equal(fm.read_images(idx_bytes(IMAGES), "x"), IMAGES)


def test_read_labels_returns_the_labels():
    np.testing.assert_array_equal(fm.read_labels(idx_bytes(LABELS), "x"), LABELS)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", "IDX magic number none, expected 0x00000803"),
        (idx_bytes(IMAGES)[:15], "15 bytes, shorter than the 16-byte IDX header"),
        (idx_bytes(LABELS), "magic number 0x00000801 (labels)"),
        (b"\x00\x00\x08\x02" + idx_bytes(IMAGES)[4:], "magic number 0x00000802 (not Fashion-MNIST)"),
        (idx_bytes(RNG.integers(0, 256, size=(2, 27, 28), dtype=np.uint8)), "images are 27x28"),
        (idx_bytes(IMAGES)[:-1], "holds 3,935 bytes"),
        (idx_bytes(IMAGES) + b"\x00", "holds 3,937 bytes"),
        (b"\x00\x00\x08\x03\xff\xff\xff\xff\x00\x00\x00\x1c\x00\x00\x00\x1c", "4294967295x28x28"),
    ],
)
def test_read_images_rejects(payload, problem):
    with pytest.raises(fm.ArchiveError, match=r"^train-images-idx3-ubyte\.gz: ") as error:
        fm.read_images(payload, "train-images-idx3-ubyte.gz")
    assert problem in str(error.value)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (idx_bytes(IMAGES), "magic number 0x00000803 (images)"),
        (idx_bytes(np.array([1, 10], np.uint8)), "label 10 at index 1"),
        (idx_bytes(np.array([255, 1, 255], np.uint8)), "label 255 at index 0 is not a class index 0-9 (2 such"),
        (idx_bytes(LABELS)[:-1], "holds 12 bytes"),
    ],
)
def test_read_labels_rejects(payload, problem):
    with pytest.raises(fm.ArchiveError, match=r"^labels\.gz: ") as error:
        fm.read_labels(payload, "labels.gz")
    assert problem in str(error.value)


def _split(num_examples):
    return fm.SplitArchives("train", num_examples, fm.Archive("i.gz", 0, ""), fm.Archive("l.gz", 0, ""), "", "")


def test_read_split_checks_images_against_labels():
    images_gz, labels_gz = gzip.compress(idx_bytes(IMAGES)), gzip.compress(idx_bytes(LABELS[:4]))
    with pytest.raises(fm.ArchiveError, match=r"i\.gz holds 5 images but l\.gz holds 4 labels"):
        fm.read_split(images_gz, labels_gz, _split(5))


def test_read_split_checks_the_expected_count():
    images_gz, labels_gz = gzip.compress(idx_bytes(IMAGES)), gzip.compress(idx_bytes(LABELS))
    with pytest.raises(fm.ArchiveError, match="holds 5 examples, expected 60,000 for the train split"):
        fm.read_split(images_gz, labels_gz, _split(60_000))


def test_gunzip_names_the_file():
    with pytest.raises(fm.ArchiveError, match=r"^a\.gz: not a valid gzip file"):
        fm.gunzip(b"<html>Not here</html>", "a.gz")


def test_verify_archive_reports_size_then_digest():
    data = b"abc"
    archive = fm.Archive("a.gz", 3, hashlib.sha256(data).hexdigest())
    fm.verify_archive(data, archive, "here/a.gz")
    with pytest.raises(fm.ArchiveError, match=r"^here/a.gz: 2 bytes, but a.gz has 3 bytes"):
        fm.verify_archive(b"ab", archive, "here/a.gz")
    with pytest.raises(fm.ArchiveError, match=f"SHA-256 mismatch for a.gz: got .* expected {archive.sha256}"):
        fm.verify_archive(b"abd", archive, "here/a.gz")


def test_pngs_decode_to_the_exact_pixels():
    edge_cases = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8), *IMAGES])
    pngs = list(fm.encode_pngs(edge_cases))
    assert len(pngs) == len(edge_cases)
    for png, pixels in zip(pngs, edge_cases, strict=True):
        with Image.open(io.BytesIO(png)) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 28))
            image.verify()  # checks every chunk's CRC
        with Image.open(io.BytesIO(png)) as image:
            np.testing.assert_array_equal(np.asarray(image), pixels)
