"""Fashion-MNIST: a `datasets` builder that fetches the four official IDX archives, verifies their size and SHA-256,
reads them strictly and yields the 70,000 images with their labels in the archives' order: as PNG images (the default
config, `fashion_mnist`) or as (28, 28) uint8 arrays (`arrays`)."""

import dataclasses
import errno
import gzip
import hashlib
import io
import logging
import math
import os
import struct
import zlib

import aiohttp
import datasets
import numpy as np
import PIL.Image

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

IMAGE_SIDE = 28
IMAGES_MAGIC = 0x00000803  # IDX: unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # IDX: unsigned bytes, 1 dimension
BASE_URLS = (
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
SHARD_SIZE = 1_000  # examples per generator shard: lets `num_proc` and streaming workers split a split
# A host has TIMEOUT seconds to connect or send the next bytes, and each request TIMEOUT plus the largest archive's
# size at MIN_RATE bytes per second (9 minutes for the official archives), before the next host is tried.
TIMEOUT = 60
MIN_RATE = 50_000
VERSION = datasets.Version("1.0.0")


@dataclasses.dataclass(frozen=True)
class Archive:
    filename: str
    num_bytes: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class SplitArchives:
    """A split's two archives, and SHA-256 digests of its pixels and labels (each file after its IDX header)."""

    split: str
    num_examples: int
    images: Archive
    labels: Archive
    pixels_sha256: str
    labels_sha256: str


def _split(name: str, num_examples: int, images: tuple, labels: tuple, *digests: str) -> SplitArchives:
    return SplitArchives(name, num_examples, Archive(*images), Archive(*labels), *digests)


# fmt: off
# Hugging Face's spelling of the classes, kept so that this builder is a drop-in replacement.
CLASS_NAMES = ["T - shirt / top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
OFFICIAL_SPLITS = (
    _split("train", 60_000,
        ("train-images-idx3-ubyte.gz", 26_421_880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        ("train-labels-idx1-ubyte.gz", 29_515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
    _split("test", 10_000,
        ("t10k-images-idx3-ubyte.gz", 4_422_102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        ("t10k-labels-idx1-ubyte.gz", 5_148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
)
# The first examples of each split, cut by `tools.regenerate` into dummy/. Cached under a name of its own: offline,
# `load_dataset("fashion_mnist")` takes whatever the cache holds under "fashion_mnist", never the sample.
SAMPLE_DIR = "dummy"
SAMPLE_DATASET_NAME = "fashion_mnist_sample"
SAMPLE_SPLITS = (
    _split("train", 60,
        ("train-images-idx3-ubyte.gz", 26_562, "767466962563cab6dac52ba6e02dac32acbe8ef191ffc88e52428465d661e4b5"),
        ("train-labels-idx1-ubyte.gz", 66, "84f92f1070b65f33c71e73d171f37b200e33221de3dc6f6f2adeccd012cce219"),
        "a3aff05047bc5425cd06452a11dda276d7d64025724420d72ea8291293de9917",
        "4d35d4c7fad209abce1753cc3b67ca67c57e2c27a338bcd4b5c1c9acbd77ebec"),
    _split("test", 40,
        ("t10k-images-idx3-ubyte.gz", 16_471, "8d9072516975d19e2b033b64e9ae4eaf39edff3e8133933b8b9abc4a4930171c"),
        ("t10k-labels-idx1-ubyte.gz", 57, "f49a4594d66caf51846da37511bde75aa4f55a8a89c03bbd584af0809b3a103e"),
        "2090de070e9ebb1b684dfe5fe7305029e53106f4d76be79aee5abae69a277283",
        "74ea03700c8e0ba73f80a18380bc8cfd3b7d2c2416d11722a3cac37ac808913f"),
)
# fmt: on


class ArchiveError(ValueError):
    """An archive is not the expected file: wrong size or digest, not gzip, or malformed IDX."""


class ArchiveUnavailableError(ConnectionError):
    """No location of an archive could be read."""


class DiskFullError(OSError):
    """The downloads folder ran out of space: no host can help."""


def verify_archive(data: bytes, archive: Archive, source: str) -> None:
    """Raise `ArchiveError` unless `data` has the archive's exact size and SHA-256."""
    if len(data) != archive.num_bytes:
        raise ArchiveError(
            f"{source}: {len(data):,} bytes, but {archive.filename} has {archive.num_bytes:,} bytes "
            "(truncated, or not the archive)"
        )
    if (sha := hashlib.sha256(data).hexdigest()) != archive.sha256:
        raise ArchiveError(f"{source}: SHA-256 mismatch for {archive.filename}: got {sha}, expected {archive.sha256}")


def gunzip(data: bytes, source: str) -> bytes:
    if not data:
        raise ArchiveError(f"{source}: empty file, not a gzip file")
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise ArchiveError(f"{source}: not a valid gzip file ({error})") from error


def _read_header(payload: bytes, source: str, magic: int, num_dims: int) -> tuple[int, ...]:
    """The dimensions in an IDX header, checked against the file's size."""
    size, header_size = len(payload), 4 * (1 + num_dims)
    got = struct.unpack_from(">I", payload)[0] if size >= 4 else None
    if got != magic:
        kinds = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
        found = "none" if got is None else f"0x{got:08x} ({kinds.get(got, 'not Fashion-MNIST')})"
        raise ArchiveError(
            f"{source}: IDX magic number {found}, "
            f"expected 0x{magic:08x} ({kinds[magic]}, unsigned bytes, {num_dims} dimensions)"
        )
    if size < header_size:
        raise ArchiveError(f"{source}: {size} bytes, shorter than the {header_size}-byte IDX header")
    dims = struct.unpack_from(f">{num_dims}I", payload, 4)
    expected_size = header_size + math.prod(dims)
    if size != expected_size:
        raise ArchiveError(
            f"{source}: header announces {'x'.join(map(str, dims))} values ({expected_size:,} bytes with the header) "
            f"but the file holds {size:,} bytes"
        )
    return dims


def read_images(payload: bytes, source: str) -> np.ndarray:
    """Parse a decompressed IDX images file into a read-only uint8 array of shape (count, 28, 28)."""
    count, rows, cols = _read_header(payload, source, IMAGES_MAGIC, num_dims=3)
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
        raise ArchiveError(f"{source}: images are {rows}x{cols}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    return np.frombuffer(payload, dtype=np.uint8, offset=16).reshape(count, IMAGE_SIDE, IMAGE_SIDE)


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
    images_name, labels_name = split.images.filename, split.labels.filename
    images = read_images(gunzip(images_gz, images_name), images_name)
    labels = read_labels(gunzip(labels_gz, labels_name), labels_name)
    if len(images) != len(labels):
        raise ArchiveError(f"{images_name} holds {len(images):,} images but {labels_name} holds {len(labels):,} labels")
    if len(images) != split.num_examples:
        raise ArchiveError(
            f"{images_name} holds {len(images):,} examples, expected {split.num_examples:,} for the {split.split} split"
        )
    return images, labels


def data_dir_problem(data_dir: str, splits: tuple, option: str = "data_dir") -> str | None:
    """Why `data_dir` is not a folder holding each archive of `splits` as a file, said for `option`, or None."""
    names = [archive.filename for split in splits for archive in (split.images, split.labels)]
    holding = f"give the folder that holds {', '.join(names)}"
    if str(data_dir) == "":
        return f"{option} is empty: {holding}"
    if not os.path.isdir(data_dir):
        return f"{option} {data_dir} {'is not a folder' if os.path.exists(data_dir) else 'does not exist'}: {holding}"
    for name in names:
        if not os.path.exists(path := os.path.join(data_dir, name)):
            return f"{option} {data_dir} has no {name}: {holding}"
        if not os.path.isfile(path):
            return f"{option} {data_dir}: {name} is not a file"
    return None


def content_digests(images: np.ndarray, labels: np.ndarray) -> tuple[str, str]:
    """SHA-256 of the pixels and of the labels of a split, as `SplitArchives` records them."""
    return tuple(hashlib.sha256(np.ascontiguousarray(a, dtype=np.uint8).data).hexdigest() for a in (images, labels))


def encode_pngs(images: np.ndarray):
    """Each (28, 28) uint8 image as a grayscale PNG: deflate level 0, which the export's zstd shrinks further."""
    for image in images:
        buffer = io.BytesIO()
        PIL.Image.fromarray(image).save(buffer, format="PNG", compress_level=0)
        yield buffer.getvalue()


def features(arrays: bool = False) -> datasets.Features:
    """The columns: `image` a PNG image, or with `arrays` a (28, 28) uint8 array; `label` the class."""
    image = datasets.Array2D(shape=(IMAGE_SIDE, IMAGE_SIDE), dtype="uint8") if arrays else datasets.Image()
    return datasets.Features({"image": image, "label": datasets.ClassLabel(names=CLASS_NAMES)})


@dataclasses.dataclass
class FashionMnistConfig(datasets.BuilderConfig):
    """`splits`: the archives and checksums; `base_urls`: hosts, tried in order; `arrays`: uint8 arrays, not PNGs."""

    version: datasets.Version = VERSION
    splits: tuple = OFFICIAL_SPLITS
    base_urls: tuple = BASE_URLS
    arrays: bool = False


class FashionMnist(datasets.GeneratorBasedBuilder):
    """Fashion-MNIST, from the official archives."""

    BUILDER_CONFIG_CLASS = FashionMnistConfig
    BUILDER_CONFIGS = [
        FashionMnistConfig(name="fashion_mnist", description="The official Fashion-MNIST archives."),
        FashionMnistConfig(name="arrays", arrays=True, description="Each image a (28, 28) uint8 array."),
        FashionMnistConfig(
            name="sample", splits=SAMPLE_SPLITS, base_urls=(SAMPLE_DIR + "/",), description="A few examples, in dummy/."
        ),
    ]
    DEFAULT_CONFIG_NAME = "fashion_mnist"

    def __init__(self, *args, base_path=None, storage_options=None, timeout=TIMEOUT, min_rate=MIN_RATE, **kwargs):
        if not min_rate > 0:
            raise ValueError(f"min_rate must be a positive number of bytes per second, got {min_rate!r}")
        name = kwargs.get("config_name") or self.DEFAULT_CONFIG_NAME
        if name == "sample":
            kwargs["dataset_name"] = SAMPLE_DATASET_NAME
        # One deadline for every request, set before datasets' __init__ hands the options to `open` for streaming.
        splits = kwargs.get("splits") or {c.name: c.splits for c in self.BUILDER_CONFIGS}.get(name, OFFICIAL_SPLITS)
        largest = max(archive.num_bytes for split in splits for archive in (split.images, split.labels))
        self.timeout, self.deadline = timeout, timeout + largest / min_rate
        # Relative locations (the bundled sample) resolve beside this script when it is used as a class.
        super().__init__(
            *args,
            base_path=base_path or os.path.dirname(os.path.abspath(__file__)),
            storage_options=_with_http_timeout(storage_options, timeout, self.deadline),
            **kwargs,
        )

    def _info(self):
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=features(self.config.arrays),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            citation=_CITATION,
            license="MIT",
        )

    def _split_generators(self, dl_manager):
        # No ETag request (the host may be down; the SHA-256 tells), and the timeouts, also under a caller's config.
        config = dl_manager.download_config
        options = _with_http_timeout(config.storage_options, self.timeout, self.deadline)
        dl_manager.download_config = dataclasses.replace(config, use_etag=False, storage_options=options)
        generators = []
        for split in self.config.splits:
            archives, size = (split.images, split.labels), split.num_examples
            ranges = [(start, min(start + SHARD_SIZE, size)) for start in range(0, size, SHARD_SIZE)]
            if isinstance(dl_manager, datasets.StreamingDownloadManager):
                # Each streaming worker reads, verifies and parses the archives of its shards.
                sources = tuple(tuple(map(dl_manager.download, self._candidates(archive))) for archive in archives)
                kwargs = {"sources": sources, "ranges": ranges}
            else:
                # Every split is parsed before any is written; the bytes hashed are the bytes parsed.
                images, labels = read_split(
                    *(fetch_verified(dl_manager, a, self._candidates(a), self.deadline) for a in archives), split
                )
                count = f"{len(labels):,}"
                logger.info("Checked the %s split: %s images and labels, well-formed IDX", split.split, count)
                # datasets shares out a list in gen_kwargs among the `num_proc` jobs.
                kwargs = {"blocks": [(a, images[a:b], labels[a:b]) for a, b in ranges]}
            generators.append(datasets.SplitGenerator(name=split.split, gen_kwargs={"split": split.split, **kwargs}))
        return generators

    def _candidates(self, archive: Archive) -> tuple:
        if self.config.data_dir:
            if problem := data_dir_problem(self.config.data_dir, self.config.splits):
                raise FileNotFoundError(problem)
            # Absolute, or the download manager would resolve it beside this script instead of the working directory.
            return (os.path.abspath(os.path.join(self.config.data_dir, archive.filename)),)
        return tuple(base_url + archive.filename for base_url in self.config.base_urls)

    def _generate_examples(self, split, blocks=None, sources=None, ranges=None):
        """The examples of `blocks` (start, images, labels), or of `ranges` of the archives read from `sources`."""
        if sources is not None:
            archives = next(s for s in self.config.splits if s.split == split)
            images, labels = read_split(*map(read_verified, (archives.images, archives.labels), sources), archives)
            blocks = [(a, images[a:b], labels[a:b]) for a, b in ranges]
        for start, images, labels in blocks:
            # An array, or the Image feature's storage form, which `datasets` stores as it is.
            encoded = images if self.config.arrays else ({"bytes": png, "path": None} for png in encode_pngs(images))
            for index, (image, label) in enumerate(zip(encoded, labels.tolist(), strict=True), start):
                yield index, {"image": image, "label": label}


def fetch_verified(dl_manager, archive: Archive, candidates: tuple, deadline: float | None = None) -> bytes:
    """The bytes of the first candidate that verifies, through the download manager. A host's download that fails
    verification, or ends early, is fetched once more (`force_download`); the user's own files are left as they are."""

    def download(location):
        logger.info("Getting %s from %s", archive.filename, location)
        config = dl_manager.download_config
        try:
            for force in (False, True):
                dl_manager.download_config = dataclasses.replace(config, force_download=config.force_download or force)
                try:
                    data = _read_bytes(dl_manager.download(location))
                    verify_archive(data, archive, location)
                    return data
                except (ArchiveError, aiohttp.ClientPayloadError):
                    if force or "://" not in location or location.startswith("file://"):
                        raise
        except Exception as error:
            if any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in _chain(error)):
                raise DiskFullError(
                    f"No space left in {config.cache_dir or datasets.config.DOWNLOADED_DATASETS_PATH} for "
                    f"{archive.filename} ({archive.num_bytes:,} bytes) from {location}: free some space there, or "
                    "build with a cache_dir elsewhere"
                ) from error
            # aiohttp's total timeout, the deadline, raises a bare TimeoutError; its other timeouts, subclasses.
            if deadline and any(type(e) is TimeoutError for e in _chain(error)):
                raise TimeoutError(f"too slow: not complete within the {deadline:,.1f} s deadline") from error
            raise
        finally:
            dl_manager.download_config = config

    return read_verified(archive, candidates, download)


def read_verified(archive: Archive, candidates: tuple, attempt=None) -> bytes:
    """The bytes of the first candidate that verify (or of `attempt`): a failing host is noted, the next one tried."""
    failures = []
    for location in candidates:
        try:
            if attempt:
                return attempt(location)
            data = _read_bytes(location)
            verify_archive(data, archive, location)
            return data
        except Exception as error:
            if "://" not in location or isinstance(error, DiskFullError):
                raise
            failures.append(f"  {location}: {_describe(error, location)}")
    raise ArchiveUnavailableError(
        "\n".join([f"Could not get a valid {archive.filename} from any host. Tried:", *failures])
        + "\nTo build from archives you already have, put the four .gz files in one folder and pass "
        "data_dir=FOLDER to the builder (or --data-dir FOLDER to the export command)."
    )


def _read_bytes(location: str) -> bytes:
    # When streaming, `datasets` makes this module's `open` read URLs.
    with open(location, "rb") as file:
        return file.read()


def _describe(error: BaseException, location: str) -> str:
    """An error on one line, with its innermost cause when it says no more than the URL (fsspec's FileNotFoundError)."""

    def text(e: BaseException) -> str:
        message = " ".join(str(e).split())
        return f"{type(e).__name__}: {message}" if message not in ("", location) else type(e).__name__

    *_, cause = _chain(error, context=False)
    return text(error) if cause is error or str(error) not in ("", location) else f"{text(error)} ({text(cause)})"


def _chain(error: BaseException | None, context: bool = True):
    seen = set()  # `raise e from e` makes a cycle
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or (error.__context__ if context else None)


def _with_http_timeout(storage_options: dict | None, timeout: float, deadline: float) -> dict:
    """aiohttp's limits for HTTP(S), unless set: `timeout` to connect and between reads, `deadline` per request. No
    documented option caps a body's size: a host sending too much is stopped by the deadline, then the size check."""
    limits = {"timeout": aiohttp.ClientTimeout(total=deadline, connect=timeout, sock_read=timeout)}
    options = dict(storage_options or {})
    for protocol in ("http", "https"):
        own = options.get(protocol, {})
        options[protocol] = {**own, "client_kwargs": {**limits, **own.get("client_kwargs", {})}}
    return options
