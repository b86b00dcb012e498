"""Fashion-MNIST: 70,000 28x28 grayscale images of Zalando's articles in 10 classes.

A `datasets` builder that fetches the four official IDX archives, verifies their size and SHA-256,
reads them strictly and yields PNG images with their labels in the archives' order.
"""

import dataclasses
import gzip
import hashlib
import logging
import math
import os
import struct
import zlib
from collections.abc import Iterator

import aiohttp
import datasets
import numpy as np

_CITATION = """\
@article{xiao2017fashionmnist,
  author     = {Han Xiao and Kashif Rasul and Roland Vollgraf},
  title      = {Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms},
  journal    = {arXiv preprint arXiv:1708.07747},
  year       = {2017},
  eprint     = {1708.07747},
  archivePrefix = {arXiv},
}
"""

_DESCRIPTION = """\
Fashion-MNIST is a dataset of Zalando's article images: a training set of 60,000 examples and a test
set of 10,000 examples. Each example is a 28x28 grayscale image associated with a label from 10 classes.
It is meant as a direct drop-in replacement for the original MNIST dataset for benchmarking machine
learning algorithms: same image size, same structure of training and testing splits.
"""

logger = logging.getLogger(__name__)

_HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
_LICENSE = "MIT"

# Hugging Face's spelling of the classes, kept so that this builder is a drop-in replacement.
CLASS_NAMES = [
    "T - shirt / top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
IMAGE_SIDE = 28
IMAGES_MAGIC = 0x00000803  # IDX: unsigned bytes, 3 dimensions
IMAGES_HEADER_SIZE = 16  # magic, count, rows, cols
LABELS_MAGIC = 0x00000801  # IDX: unsigned bytes, 1 dimension

BASE_URLS = (
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
# Examples per generator shard: lets `num_proc` and streaming workers split a split, and bounds what a
# worker holds at a time.
SHARD_SIZE = 1_000
CHUNK_SIZE = 1 << 20  # bytes decompressed at a time when an archive is checked without holding it
# Seconds a host may take to connect, or to send the next bytes, before the next host is tried. aiohttp's
# own default, 5 minutes for the whole transfer, waits long on a silent host and cuts a slow download.
TIMEOUT = 60


@dataclasses.dataclass(frozen=True)
class Archive:
    filename: str
    num_bytes: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class SplitArchives:
    """A split's two archives, and SHA-256 digests of its content: the pixels (every image's 784 bytes, in
    order: the images file after its 16-byte header) and the labels (the labels file after its 8-byte header).
    The digests check any copy of the split (a cache, an export) without the archives."""

    split: str
    num_examples: int
    images: Archive
    labels: Archive
    pixels_sha256: str
    labels_sha256: str


OFFICIAL_SPLITS = (
    SplitArchives(
        "train",
        60_000,
        Archive(
            "train-images-idx3-ubyte.gz", 26_421_880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        Archive(
            "train-labels-idx1-ubyte.gz", 29_515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    ),
    SplitArchives(
        "test",
        10_000,
        Archive(
            "t10k-images-idx3-ubyte.gz", 4_422_102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        Archive("t10k-labels-idx1-ubyte.gz", 5_148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    ),
)

# The bundled sample: the first examples of each split, cut from the official archives by
# `.venv/bin/python -m tools.make_sample` and stored under dummy/ beside this script. Its builds are cached under a
# name of their own: offline, `load_dataset("fashion_mnist")` falls back to whatever the cache holds under
# "fashion_mnist", and must never find the sample there.
SAMPLE_DIR = "dummy"
SAMPLE_DATASET_NAME = "fashion_mnist_sample"
SAMPLE_SPLITS = (
    SplitArchives(
        "train",
        60,
        Archive(
            "train-images-idx3-ubyte.gz", 26_562, "767466962563cab6dac52ba6e02dac32acbe8ef191ffc88e52428465d661e4b5"
        ),
        Archive("train-labels-idx1-ubyte.gz", 66, "84f92f1070b65f33c71e73d171f37b200e33221de3dc6f6f2adeccd012cce219"),
        "a3aff05047bc5425cd06452a11dda276d7d64025724420d72ea8291293de9917",
        "4d35d4c7fad209abce1753cc3b67ca67c57e2c27a338bcd4b5c1c9acbd77ebec",
    ),
    SplitArchives(
        "test",
        40,
        Archive(
            "t10k-images-idx3-ubyte.gz", 16_471, "8d9072516975d19e2b033b64e9ae4eaf39edff3e8133933b8b9abc4a4930171c"
        ),
        Archive("t10k-labels-idx1-ubyte.gz", 57, "f49a4594d66caf51846da37511bde75aa4f55a8a89c03bbd584af0809b3a103e"),
        "2090de070e9ebb1b684dfe5fe7305029e53106f4d76be79aee5abae69a277283",
        "74ea03700c8e0ba73f80a18380bc8cfd3b7d2c2416d11722a3cac37ac808913f",
    ),
)


class ArchiveError(ValueError):
    """An archive is not the expected file: wrong size or digest, not gzip, or malformed IDX."""


class ArchiveUnavailableError(ConnectionError):
    """No location of an archive could be read."""


# Reading and checking archives: pure functions, usable without the builder.


def verify_archive(data: bytes, archive: Archive, source: str) -> None:
    """Raise `ArchiveError` unless `data` has the archive's exact size and SHA-256."""
    _verify(len(data), lambda: hashlib.sha256(data), archive, source)


def verify_file(path: str, archive: Archive, source: str) -> None:
    """`verify_archive` for a local file, hashed in chunks rather than read whole."""

    def digest():
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256")

    _verify(os.path.getsize(path), digest, archive, source)


def _verify(size: int, digest, archive: Archive, source: str) -> None:
    if size != archive.num_bytes:
        raise ArchiveError(
            f"{source}: {size:,} bytes, but {archive.filename} has {archive.num_bytes:,} bytes "
            "(truncated, or not the archive)"
        )
    digest = digest().hexdigest()
    if digest != archive.sha256:
        raise ArchiveError(
            f"{source}: SHA-256 mismatch for {archive.filename}: got {digest}, expected {archive.sha256}"
        )


def gunzip(data: bytes, source: str) -> bytes:
    if not data:
        raise ArchiveError(f"{source}: empty file, not a gzip file")
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise ArchiveError(f"{source}: not a valid gzip file ({error})") from error


def _read_header(payload: bytes, source: str, magic: int, num_dims: int, size: int | None = None) -> tuple[int, ...]:
    """The dimensions in an IDX header, checked against the file's size: `len(payload)`, or `size` when
    `payload` holds only the start of the file."""
    size = len(payload) if size is None else size
    header_size = 4 * (1 + num_dims)
    found_magic = struct.unpack_from(">I", payload)[0] if len(payload) >= 4 else None
    if found_magic != magic:
        kinds = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
        found = (
            "none" if found_magic is None else f"0x{found_magic:08x} ({kinds.get(found_magic, 'not Fashion-MNIST')})"
        )
        raise ArchiveError(
            f"{source}: IDX magic number {found}, "
            f"expected 0x{magic:08x} ({kinds[magic]}, unsigned bytes, {num_dims} dimensions)"
        )
    if size < header_size:
        raise ArchiveError(f"{source}: {size} bytes, shorter than the {header_size}-byte IDX header")
    dims = struct.unpack_from(f">{num_dims}I", payload, 4)
    expected_size = header_size + math.prod(dims)
    if size != expected_size:
        shape = "x".join(map(str, dims))
        raise ArchiveError(
            f"{source}: header announces {shape} values ({expected_size:,} bytes with the header) "
            f"but the file holds {size:,} bytes"
        )
    return dims


def read_images(payload: bytes, source: str) -> np.ndarray:
    """Parse a decompressed IDX images file into a read-only uint8 array of shape (count, 28, 28)."""
    count = _read_images_header(payload, source)
    return np.frombuffer(payload, dtype=np.uint8, offset=IMAGES_HEADER_SIZE).reshape(count, IMAGE_SIDE, IMAGE_SIDE)


def _read_images_header(payload: bytes, source: str, size: int | None = None) -> int:
    count, rows, cols = _read_header(payload, source, IMAGES_MAGIC, num_dims=3, size=size)
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
        raise ArchiveError(f"{source}: images are {rows}x{cols}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    return count


def read_labels(payload: bytes, source: str) -> np.ndarray:
    """Parse a decompressed IDX labels file into a read-only uint8 array of class indices 0-9."""
    _read_header(payload, source, LABELS_MAGIC, num_dims=1)
    labels = np.frombuffer(payload, dtype=np.uint8, offset=8)
    invalid = np.flatnonzero(labels >= len(CLASS_NAMES))
    if invalid.size:
        first = int(invalid[0])
        raise ArchiveError(
            f"{source}: label {labels[first]} at index {first} is not a class index 0-{len(CLASS_NAMES) - 1} "
            f"({invalid.size} such labels)"
        )
    return labels


def read_split(images_gz: bytes, labels_gz: bytes, split: SplitArchives) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a split from its two verified archives, checked against each other."""
    images = read_images(gunzip(images_gz, split.images.filename), split.images.filename)
    labels = read_labels(gunzip(labels_gz, split.labels.filename), split.labels.filename)
    _check_counts(len(images), len(labels), split)
    return images, labels


def check_split(images_path: str, labels_path: str, split: SplitArchives) -> None:
    """What `read_split` checks, for a split's two local archive files, without holding the images: they
    are decompressed in chunks and counted."""
    source = split.images.filename
    if os.path.getsize(images_path) == 0:
        gunzip(b"", source)  # the same error as for an empty file read whole
    try:
        with gzip.open(images_path, "rb") as file:
            header = file.read(IMAGES_HEADER_SIZE)
            size = len(header)
            while chunk := file.read(CHUNK_SIZE):
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise ArchiveError(f"{source}: not a valid gzip file ({error})") from error
    num_images = _read_images_header(header, source, size=size)
    labels = read_labels(gunzip(_read_bytes(labels_path), split.labels.filename), split.labels.filename)
    _check_counts(num_images, len(labels), split)


def read_image_shards(images_path: str, shards: list) -> Iterator[np.ndarray]:
    """The images of each (start, stop) shard of a checked images file, decompressed only as far as that
    shard: one shard in memory at a time."""
    with gzip.open(images_path, "rb") as file:
        for start, stop in shards:
            file.seek(IMAGES_HEADER_SIZE + start * IMAGE_SIDE * IMAGE_SIDE)
            data = file.read((stop - start) * IMAGE_SIDE * IMAGE_SIDE)
            yield np.frombuffer(data, dtype=np.uint8).reshape(stop - start, IMAGE_SIDE, IMAGE_SIDE)


def _check_counts(num_images: int, num_labels: int, split: SplitArchives) -> None:
    if num_images != num_labels:
        raise ArchiveError(
            f"{split.images.filename} holds {num_images:,} images but {split.labels.filename} "
            f"holds {num_labels:,} labels"
        )
    if num_images != split.num_examples:
        raise ArchiveError(
            f"{split.images.filename} holds {num_images:,} examples, expected {split.num_examples:,} "
            f"for the {split.split} split"
        )


def content_digests(images: np.ndarray, labels: np.ndarray) -> tuple[str, str]:
    """SHA-256 of the pixels and of the labels of a split, as `SplitArchives` records them."""
    pixels = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).data).hexdigest()
    return pixels, hashlib.sha256(np.ascontiguousarray(labels, dtype=np.uint8).data).hexdigest()


# PNG encoding. Pillow's per-call work (an image object, a file object, chunk writing) costs more than the
# compression of a 28x28 image; this writes 8-bit grayscale files straight from zlib, with the constant chunks
# built once. Scanlines are stored unfiltered and deflated with run-length matching only (Z_RLE), which suits
# images with long runs of background. Measured on the train split (docs/benchmark.md): 514 bytes per image for
# about 26 us, against 525 bytes for zlib level 1 at the same cost, and 504 bytes for Pillow's default (adaptive
# filters, level 6), which took about 60 us even when written with numpy and zlib.


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_HEADER = _PNG_SIGNATURE + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", IMAGE_SIDE, IMAGE_SIDE, 8, 0, 0, 0, 0))
_PNG_END = _png_chunk(b"IEND", b"")


def encode_pngs(images: np.ndarray):
    """Yield each (28, 28) uint8 image of `images` as the bytes of a grayscale PNG file."""
    # Every scanline starts with its filter type; 0 means the bytes are stored unfiltered.
    scanlines = np.pad(images, ((0, 0), (0, 0), (1, 0)))
    for image in scanlines:
        compressor = zlib.compressobj(strategy=zlib.Z_RLE)
        idat = compressor.compress(image.tobytes()) + compressor.flush()
        yield _PNG_HEADER + _png_chunk(b"IDAT", idat) + _PNG_END


# The builder.


@dataclasses.dataclass
class FashionMnistConfig(datasets.BuilderConfig):
    """`splits` names the archives and their checksums; `base_urls` are the hosts, tried in order."""

    splits: tuple = OFFICIAL_SPLITS
    base_urls: tuple = BASE_URLS


class FashionMnist(datasets.GeneratorBasedBuilder):
    """Fashion-MNIST, from the official archives."""

    BUILDER_CONFIG_CLASS = FashionMnistConfig
    BUILDER_CONFIGS = [
        FashionMnistConfig(
            name="fashion_mnist",
            version=datasets.Version("1.0.0"),
            description="The official Fashion-MNIST archives.",
        ),
        FashionMnistConfig(
            name="sample",
            version=datasets.Version("1.0.0"),
            description="The first examples of each split, bundled under dummy/ for offline use and tests.",
            splits=SAMPLE_SPLITS,
            base_urls=(SAMPLE_DIR + "/",),
        ),
    ]
    DEFAULT_CONFIG_NAME = "fashion_mnist"

    def __init__(self, *args, base_path=None, storage_options=None, timeout: float = TIMEOUT, **kwargs):
        if kwargs.get("config_name") == "sample":
            kwargs["dataset_name"] = SAMPLE_DATASET_NAME
        # Relative locations (the bundled sample) resolve beside this script when it is used as a class.
        super().__init__(
            *args,
            base_path=base_path or os.path.dirname(os.path.abspath(__file__)),
            storage_options=_with_http_timeout(storage_options, timeout),
            **kwargs,
        )

    def _info(self):
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=CLASS_NAMES)}),
            supervised_keys=("image", "label"),
            homepage=_HOMEPAGE,
            citation=_CITATION,
            license=_LICENSE,
        )

    def _split_generators(self, dl_manager):
        streaming = isinstance(dl_manager, datasets.StreamingDownloadManager)
        if not streaming:
            # Reuse a cached download without asking its host for an ETag, which needs the host up: the
            # SHA-256 check says whether it is the archive. datasets does this unless given a DownloadConfig.
            dl_manager.download_config = dataclasses.replace(dl_manager.download_config, use_etag=False)
        generators = []
        for split in self.config.splits:
            locations = {}
            for kind in ("images", "labels"):
                archive = getattr(split, kind)
                candidates = self._candidates(archive)
                # Streaming reads (and verifies) the archives while generating; otherwise fetch and
                # verify every archive now, so that a bad one fails before any split is written.
                if streaming:
                    locations[kind] = tuple(dl_manager.download(location) for location in candidates)
                else:
                    locations[kind] = (fetch_verified(dl_manager, archive, candidates),)
            if not streaming:
                # Parse the split now too, so that archives that verify but hold malformed IDX (possible
                # with checksums other than the official ones) fail before any split is written.
                check_split(*locations["images"], *locations["labels"], split)
                logger.info(
                    "Checked the %s split: %s images and labels, well-formed IDX",
                    split.split,
                    f"{split.num_examples:,}",
                )
            shards = [
                (start, min(start + SHARD_SIZE, split.num_examples))
                for start in range(0, split.num_examples, SHARD_SIZE)
            ]
            generators.append(
                datasets.SplitGenerator(
                    name=split.split,
                    gen_kwargs={"split": split.split, **locations, "shards": shards, "checked": not streaming},
                )
            )
        return generators

    def _candidates(self, archive: Archive) -> tuple:
        if self.config.data_dir:
            if not os.path.isdir(self.config.data_dir):
                raise FileNotFoundError(
                    f"data_dir {self.config.data_dir} is not a folder; it must hold the {self.config.name} archives"
                )
            # Absolute, or the download manager would resolve it beside this script instead of the working directory.
            path = os.path.abspath(os.path.join(self.config.data_dir, archive.filename))
            if not os.path.exists(path):
                expected = ", ".join(a.filename for s in self.config.splits for a in (s.images, s.labels))
                raise FileNotFoundError(
                    f"data_dir {self.config.data_dir} has no {archive.filename}; it must hold the "
                    f"{self.config.name} archives: {expected}"
                )
            return (path,)
        return tuple(base_url + archive.filename for base_url in self.config.base_urls)

    def _generate_examples(self, split, images, labels, shards, checked=False):
        archives = next(s for s in self.config.splits if s.split == split)
        if checked:
            # Local files that _split_generators verified and parsed: verify them again (hashed in
            # chunks), then decompress one shard at a time instead of holding the split, so that each
            # of the `num_proc` workers stays small.
            verify_file(images[0], archives.images, images[0])
            verify_file(labels[0], archives.labels, labels[0])
            all_labels = read_labels(gunzip(_read_bytes(labels[0]), labels[0]), labels[0])
            blocks = read_image_shards(images[0], shards)
        else:
            all_images, all_labels = read_split(
                read_verified(archives.images, images), read_verified(archives.labels, labels), archives
            )
            blocks = (all_images[start:stop] for start, stop in shards)
        for (start, stop), block in zip(shards, blocks, strict=True):
            # The image in the Image feature's storage form, PNG bytes and no path, so that `datasets`
            # stores it as it is instead of encoding it again; the label as a Python int.
            pngs = encode_pngs(block)
            for index, (png, label) in enumerate(zip(pngs, all_labels[start:stop].tolist(), strict=True), start):
                yield index, {"image": {"bytes": png, "path": None}, "label": label}


def fetch_verified(dl_manager, archive: Archive, candidates: tuple) -> str:
    """Download the first candidate whose bytes verify and return its local path.

    A download that fails verification is dropped from the cache and fetched once more: the cached copy
    may have been cut or altered since it was fetched, or the connection may have ended early. A local
    archive that fails is reported as it is, and never deleted."""

    def download(location):
        attempts = 2 if "://" in location else 1
        for attempt in range(1, attempts + 1):
            path = None
            try:
                logger.info("Getting %s from %s", archive.filename, location)
                path = dl_manager.download(location)
                verify_file(path, archive, location)
                logger.info(
                    "Verified %s: %s bytes, SHA-256 %s", archive.filename, f"{archive.num_bytes:,}", archive.sha256
                )
                return path
            except (ArchiveError, aiohttp.ClientPayloadError):  # bad bytes, or a body cut short
                if path is not None and "://" in location:
                    _forget_download(path)
                if attempt == attempts:
                    raise

    return _first_success(archive, candidates, download)


def read_verified(archive: Archive, candidates: tuple) -> bytes:
    """The bytes of the first candidate (a local path, or a URL when streaming) that verify."""

    def read(location):
        data = _read_bytes(location)
        verify_archive(data, archive, location)
        return data

    return _first_success(archive, candidates, read)


def _read_bytes(location: str) -> bytes:
    # In streaming mode `datasets` makes this module's `open` read URLs too.
    with open(location, "rb") as file:
        return file.read()


def _first_success(archive: Archive, candidates: tuple, attempt):
    """`attempt(location)` for each candidate in turn: a local file's error is raised as it is, while
    a failing host (unreachable, error status, bad bytes) is noted and the next one tried."""
    failures = []
    for location in candidates:
        try:
            return attempt(location)
        except Exception as error:
            if "://" not in location:
                raise
            failures.append(f"  {location}: {_describe(error, location)}")
    raise ArchiveUnavailableError(
        "\n".join([f"Could not get a valid {archive.filename} from any host. Tried:", *failures])
        + "\nTo build from archives you already have, put the four .gz files in one folder and pass "
        "data_dir=FOLDER to the builder (or --data-dir FOLDER to the export command)."
    )


def _describe(error: BaseException, location: str) -> str:
    """An error on one line. fsspec reports a refused connection, an error status and a timeout alike,
    as FileNotFoundError(url): when an error says no more than that, its innermost cause is added."""

    def text(e: BaseException) -> str:
        message = " ".join(str(e).split())
        return f"{type(e).__name__}: {message}" if message not in ("", location) else type(e).__name__

    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if cause is error or str(error) not in ("", location):
        return text(error)
    return f"{text(error)} ({text(cause)})"


def _with_http_timeout(storage_options: dict | None, timeout: float) -> dict:
    """`storage_options` for `datasets` with `timeout` for HTTP(S) hosts, unless they set their own."""
    client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
    options = dict(storage_options or {})
    for protocol in ("http", "https"):
        protocol_options = dict(options.get(protocol, {}))
        protocol_options["client_kwargs"] = {"timeout": client_timeout, **protocol_options.get("client_kwargs", {})}
        options[protocol] = protocol_options
    return options


def _forget_download(path: str) -> None:
    """Drop a cached download that failed verification, so that the next attempt fetches it again."""
    for stale in (path, path + ".json", path + ".lock"):
        if os.path.exists(stale):
            os.remove(stale)
