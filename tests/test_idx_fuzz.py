"""Property-based tests of the gzip and IDX readers on random headers and payloads.

Whatever the bytes, a reader either returns arrays whose shape is the one the header announces, made
from the input without copying it, or raises `ArchiveError` naming the source; nothing else, and it
never allocates more than the input justifies. The "ci" profile (CI set) runs 10,000 examples each.
"""

import gzip
import math
import struct
import sys
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fashion_mnist as fm
from tools.common import gzip_bytes

SOURCE = "fuzz/archive.gz"
# Bytes a reader may allocate beyond its input, whatever the header claims: small bookkeeping only.
ALLOCATION_ALLOWANCE = 64 * 1024

IDX_MAGICS = [fm.IMAGES_MAGIC, fm.LABELS_MAGIC, 0x0802, 0x0804, 0x0D03, 0x0C03, 0, 0xFFFF_FFFF]
huge = st.integers(2**20, 2**32 - 1)
counts = st.one_of(st.integers(0, 40), huge)
sides = st.one_of(st.just(fm.IMAGE_SIDE), st.integers(0, 40), huge)
magics = st.one_of(st.sampled_from(IDX_MAGICS), st.integers(0, 2**32 - 1))


@st.composite
def idx_payloads(draw, num_dims: int, dims) -> bytes:
    """A header of `num_dims` dimensions, usually with a plausible magic, then a body whose length is
    the announced one, near it, or unrelated; sometimes cut inside the header."""
    magic = draw(magics)
    shape = [draw(dims[i]) for i in range(num_dims)]
    header = struct.pack(f">{1 + num_dims}I", magic, *shape)
    announced = math.prod(shape)
    if announced <= 50_000:
        length = draw(st.one_of(st.just(announced), st.integers(max(0, announced - 2), announced + 2)))
    else:
        length = draw(st.integers(0, 2_000))
    body = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, length, np.uint8).tobytes()
    payload = header + body
    if draw(st.integers(0, 9)) == 0:
        payload = payload[: draw(st.integers(0, len(header)))]
    return payload


image_payloads = idx_payloads(3, [counts, sides, sides])
label_payloads = idx_payloads(1, [st.one_of(st.integers(0, 2_000), huge)])
random_bytes = st.binary(max_size=64)


def peak_allocation(function, *args):
    """(result or raised exception, peak bytes allocated during the call, numpy's buffers included)."""
    tracemalloc.start()
    try:
        result = function(*args)
    except Exception as error:
        result = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


def lines_run(function, *args) -> int:
    """How many lines of Python run during the call, in every function it calls, whatever it raises."""
    lines = 0

    def trace(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        function(*args)
    except Exception:
        pass
    finally:
        sys.settrace(previous)
    return lines


def test_the_allocation_probe_sees_numpy_buffers():
    _, allocated = peak_allocation(np.zeros, 10**6, np.uint8)
    assert allocated >= 10**6


def assert_reader_error(error: Exception) -> None:
    if not isinstance(error, fm.ArchiveError):
        raise AssertionError(f"not the reader's error: {type(error).__name__}: {error}") from error
    assert str(error).startswith(f"{SOURCE}: ")


def assert_view_of(array: np.ndarray, payload: bytes, offset: int) -> None:
    assert array.dtype == np.uint8
    assert not array.flags.writeable
    body = np.frombuffer(payload, np.uint8, offset=offset)
    assert array.size == body.size
    assert array.size == 0 or np.shares_memory(array, body), "the array is a view of the input, not a copy"
    np.testing.assert_array_equal(array.reshape(-1), body)


FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# gzip and the split (two archives through gzip, then both readers) get a fifth of the profile's
# examples: the IDX readers above are the target, and CI's time is shared.
FUZZ_AROUND = settings(FUZZ, max_examples=max(1, settings.default.max_examples // 5))


@FUZZ
@given(st.one_of(image_payloads, random_bytes))
def test_read_images(payload):
    result, allocated = peak_allocation(fm.read_images, payload, SOURCE)
    assert allocated < ALLOCATION_ALLOWANCE
    if isinstance(result, Exception):
        assert_reader_error(result)
        return
    magic, count, rows, cols = struct.unpack_from(">4I", payload)
    assert (magic, rows, cols) == (fm.IMAGES_MAGIC, fm.IMAGE_SIDE, fm.IMAGE_SIDE)
    assert result.shape == (count, rows, cols)
    assert_view_of(result, payload, 16)


@FUZZ
@given(st.one_of(label_payloads, random_bytes))
def test_read_labels(payload):
    result, allocated = peak_allocation(fm.read_labels, payload, SOURCE)
    # Finding the invalid labels takes a boolean mask and an index array, at most 9 bytes per label.
    assert allocated < ALLOCATION_ALLOWANCE + 9 * len(payload)
    if isinstance(result, Exception):
        assert_reader_error(result)
        return
    magic, count = struct.unpack_from(">2I", payload)
    assert magic == fm.LABELS_MAGIC
    assert result.shape == (count,)
    assert int(result.max(initial=0)) < len(fm.CLASS_NAMES)
    assert_view_of(result, payload, 8)


VALID_GZIP = gzip_bytes(struct.pack(">2I", fm.LABELS_MAGIC, 300) + bytes(range(10)) * 30)


@st.composite
def damaged_gzips(draw) -> bytes:
    """A valid gzip file with a few bytes replaced, inserted or removed, or cut short."""
    data = bytearray(VALID_GZIP)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        if action == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        else:
            del data[position:]
    return bytes(data)


@FUZZ_AROUND
@given(st.one_of(damaged_gzips(), random_bytes, st.just(VALID_GZIP)))
def test_gunzip(data):
    result, allocated = peak_allocation(fm.gunzip, data, SOURCE)
    # Deflate expands at most about 1,032 times; anything beyond that could not come from the input.
    assert allocated < ALLOCATION_ALLOWANCE + 1_100 * len(data)
    if isinstance(result, Exception):
        assert_reader_error(result)
        return
    assert isinstance(result, bytes)
    assert result == gzip.decompress(data)


SPLIT = fm.SplitArchives("train", 3, fm.Archive("images.gz", 0, ""), fm.Archive("labels.gz", 0, ""), "", "")


@FUZZ_AROUND
@given(image_payloads, label_payloads, st.booleans())
def test_read_split(images, labels, compress_well):
    """Through gzip: the split's arrays with the announced count, or an ArchiveError naming one file."""
    # Fast gzip, or zlib's format, which is not gzip.
    compress = (lambda payload: gzip.compress(payload, 1, mtime=0)) if compress_well else zlib.compress
    try:
        images_array, labels_array = fm.read_split(compress(images), compress(labels), SPLIT)
    except fm.ArchiveError as error:
        assert str(error).startswith(("images.gz", "labels.gz"))
        return
    assert images_array.shape == (SPLIT.num_examples, fm.IMAGE_SIDE, fm.IMAGE_SIDE)
    assert labels_array.shape == (SPLIT.num_examples,)


def test_the_line_probe_sees_work_that_grows_with_the_input():
    def walk(payload):
        for _ in payload:
            pass

    assert lines_run(walk, bytes(10)) < lines_run(walk, bytes(20))


@pytest.mark.parametrize(
    ("reader", "header"),
    [
        (fm.read_images, struct.pack(">4I", fm.IMAGES_MAGIC, 0xFFFF_FFFF, 28, 28)),
        (fm.read_images, struct.pack(">4I", fm.IMAGES_MAGIC, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)),
        (fm.read_labels, struct.pack(">2I", fm.LABELS_MAGIC, 0xFFFF_FFFF)),
    ],
)
def test_a_header_claiming_billions_fails_at_once_without_allocating(reader, header):
    payload = header + bytes(28 * 28 * 10)
    error, allocated = peak_allocation(reader, payload, SOURCE)
    assert isinstance(error, fm.ArchiveError)
    assert "4294967295" in str(error)
    assert allocated < ALLOCATION_ALLOWANCE
    # At once: the header is refused with the same work whatever follows it, nothing walks the bytes or the claim.
    assert lines_run(reader, payload, SOURCE) == lines_run(reader, header + bytes(28 * 28 * 1000), SOURCE)
