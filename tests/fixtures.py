"""Fixtures shared by tests/ and legacy/: the official archives, a loopback server for them, and the test session's
one build and export of the sample and of the official archives (tests never change these: they copy them)."""

import contextlib
import functools
import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays
from tools import near_duplicates
from tools.build import build_configs
from tools.common import ARCHIVES_VARIABLE, REPO, archives_dir, load_official
from tools.export import write_folder

SAMPLE_DIR = REPO / fm.SAMPLE_DIR
# The classes in label order, as Hugging Face spells them: written out here as the specification that
# fashion_mnist.CLASS_NAMES and the card are checked against.
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


def require_official_archives() -> Path:
    """The folder of the four official archives ($FASHION_MNIST_ARCHIVES, else ../shared/fashion-mnist); skip
    without it, but fail in CI, where it must exist."""
    folder = archives_dir()
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        reason = f"the official archives are not in {folder} (set {ARCHIVES_VARIABLE} to their folder)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run the real-archive tests")
        pytest.skip(reason)
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve `directory` over HTTP on 127.0.0.1 at a port the OS picks; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def official_dir() -> Path:
    return require_official_archives()


@pytest.fixture(scope="session")
def official_arrays(official_dir) -> dict[str, tuple]:
    """Split -> (images, labels), read with the tests' own IDX reader after checking the archives' digests."""
    for split in fm.OFFICIAL_SPLITS:
        for archive in (split.images, split.labels):
            assert hashlib.sha256((official_dir / archive.filename).read_bytes()).hexdigest() == archive.sha256
    return {split.split: archive_arrays(official_dir, split.split) for split in fm.OFFICIAL_SPLITS}


@pytest.fixture(scope="session")
def near_duplicate_search(official_dir):
    """The near-duplicate search on the official archives (tools.near_duplicates.search), once per test session:
    the slowest generator (its time: docs/near-duplicates.md)."""
    return near_duplicates.search(load_official(official_dir))


@pytest.fixture(scope="session")
def official_server(official_dir):
    """Base URL of a loopback server holding the official archives."""
    with serve_directory(official_dir) as url:
        yield url


@pytest.fixture(scope="session")
def sample_server():
    """Base URL of a loopback server holding the bundled sample archives."""
    with serve_directory(SAMPLE_DIR) as url:
        yield url


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory):
    """(builders, folder): both configs built from the bundled sample archives, and their export."""
    root = tmp_path_factory.mktemp("sample")
    builders = build_configs(sample=True, cache_dir=root / "cache")
    return builders, write_folder(builders, root / "hub")


@pytest.fixture(scope="session")
def official_export(official_server, tmp_path_factory):
    """(builders, folder): both configs built from the official archives, downloaded from the loopback server as from
    the real hosts, and their export: the test session's one build of the official data."""
    root = tmp_path_factory.mktemp("official")
    builders = build_configs(base_urls=[official_server], cache_dir=root / "cache", num_proc=2)
    return builders, write_folder(builders, root / "hub")
