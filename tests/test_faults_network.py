"""Hosts that misbehave: the builder falls through to the next host, retries a download cut short once,
bounds every wait by its timeout, says which URLs failed and how when none works, and never fetches
again what it already downloaded and verified."""

import re
import time

import datasets
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
    finished_infos,
    sample_files,
)
from tests.fixtures import SAMPLE_DIR
from tests.misbehaving_server import HTML_PAGE, MisbehavingServer, refused_url

GOOD = sample_files()
ARCHIVES = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]  # in the order the builder fetches them
TIMEOUT = 0.5  # the builder's timeout in these tests, in seconds


def sample_builder(cache_dir, *base_urls, **kwargs):
    return fm.FashionMnist(
        cache_dir=str(cache_dir), config_name="sample", base_urls=base_urls, timeout=TIMEOUT, **kwargs
    )


@pytest.mark.parametrize(
    ("behavior", "gets_per_archive"),
    [
        ("refuse", 0),
        ("404", 1),  # fsspec asks with HEAD, then GET, before it gives up
        ("500", 1),
        ("hang", 1),  # the HEAD and the GET each wait TIMEOUT
        ("stall", 1),  # the GET's body stops half-way and stays silent
        ("html", 2),  # 200 with an HTML page: fails verification, fetched once more, then the next host
        ("truncate", 2),  # half the announced Content-Length, then the connection closes
        # Half the bytes and no Content-Length: only verification can tell. Without a length in the HEAD
        # answer fsspec also asks with GET for the size, so each of the two attempts makes two GETs.
        ("truncate-no-length", 4),
    ],
)
def test_the_next_host_is_used_when_the_first_fails(tmp_path, behavior, gets_per_archive):
    with (
        MisbehavingServer(GOOD, "ok" if behavior == "refuse" else behavior) as bad,
        MisbehavingServer(GOOD) as good,
        refused_url() as refused,
    ):
        first = refused if behavior == "refuse" else bad.url
        builder = sample_builder(tmp_path, first, good.url)
        start = time.monotonic()
        builder.download_and_prepare()
        elapsed = time.monotonic() - start
        assert_sample_rows(builder)
        assert good.gets() == ARCHIVES
        assert bad.gets() == [name for name in ARCHIVES for _ in range(gets_per_archive)]
    # Each silent request costs one TIMEOUT; nothing waits for aiohttp's 5 minutes.
    assert elapsed < 4 * 2 * TIMEOUT + 10


# Not "stall" and "truncate": a streaming read that breaks is retried by datasets itself, 20 times 5 s
# apart (config.STREAMING_READ_MAX_RETRIES), before the next host is tried. The result is still right.
@pytest.mark.parametrize("behavior", ["refuse", "404", "500", "hang", "html", "truncate-no-length"])
def test_streaming_uses_the_next_host_when_the_first_fails(behavior):
    with (
        MisbehavingServer(GOOD, "ok" if behavior == "refuse" else behavior) as bad,
        MisbehavingServer(GOOD) as good,
        refused_url() as refused,
    ):
        first = refused if behavior == "refuse" else bad.url
        builder = fm.FashionMnist(config_name="sample", base_urls=(first, good.url), timeout=TIMEOUT)
        rows = list(builder.as_streaming_dataset(split="test"))
    assert [row["label"] for row in rows] == archive_arrays(SAMPLE_DIR, "test")[1].tolist()
    assert good.gets() == [TEST_IMAGES, TEST_LABELS]


@pytest.mark.parametrize("behavior", ["truncate", "truncate-no-length", "html"])
def test_a_download_cut_short_once_is_fetched_again_from_the_same_host(tmp_path, behavior):
    with MisbehavingServer(GOOD, [behavior, "ok"]) as host:
        builder = sample_builder(tmp_path, host.url)
        builder.download_and_prepare()
        assert_sample_rows(builder)
        assert host.gets() == [name for name in ARCHIVES for _ in range(2)]


@pytest.mark.parametrize("behavior", ["truncate", "truncate-no-length"])
def test_a_host_that_always_cuts_downloads_short_ends_in_a_clear_error_then_a_build(tmp_path, behavior):
    with MisbehavingServer(GOOD, behavior) as host:
        builder = sample_builder(tmp_path, host.url)
        with pytest.raises(fm.ArchiveUnavailableError, match=rf"{re.escape(host.url + TRAIN_IMAGES)}: "):
            builder.download_and_prepare()
        assert_no_finished_dataset(tmp_path, config_name="sample", base_urls=(host.url,), timeout=TIMEOUT)
        assert not list((tmp_path / "downloads").glob("*.json")), "no bad download may stay in the cache"

        host.behavior = "ok"
        builder = sample_builder(tmp_path, host.url)
        builder.download_and_prepare()
        assert_sample_rows(builder)


def test_every_host_down_is_one_error_listing_each_url_and_the_local_way(tmp_path):
    with (
        refused_url() as refused,
        MisbehavingServer(GOOD, "404") as missing,
        MisbehavingServer(GOOD, "500") as broken,
        MisbehavingServer(GOOD, "hang") as silent,
        MisbehavingServer(GOOD, "html") as portal,
    ):
        hosts = (refused, missing.url, broken.url, silent.url, portal.url)
        builder = sample_builder(tmp_path, *hosts)
        start = time.monotonic()
        with pytest.raises(fm.ArchiveUnavailableError) as error:
            builder.download_and_prepare()
        elapsed = time.monotonic() - start
        assert_no_finished_dataset(tmp_path, config_name="sample", base_urls=hosts, timeout=TIMEOUT)
    message = str(error.value)
    assert isinstance(error.value, ConnectionError)
    assert message.startswith(f"Could not get a valid {TRAIN_IMAGES} from any host. Tried:\n")
    lines = message.splitlines()
    for host, problem in zip(
        hosts,
        [
            "FileNotFoundError (ConnectionRefusedError: ",
            "FileNotFoundError (ClientResponseError: 404, message='Not Found'",
            "FileNotFoundError (ClientResponseError: 500, message='Internal Server Error'",
            "FileNotFoundError (SocketTimeoutError: Timeout on reading data from socket)",
            f"ArchiveError: {portal.url}{TRAIN_IMAGES}: {len(HTML_PAGE)} bytes, but {TRAIN_IMAGES} has 26,562 bytes",
        ],
        strict=True,
    ):
        [line] = [line for line in lines if line.startswith(f"  {host}{TRAIN_IMAGES}: ")]
        assert problem in line
    assert "data_dir=FOLDER" in message
    assert elapsed < 2 * TIMEOUT + 10


def test_a_silent_host_is_given_up_after_the_timeout(tmp_path):
    with MisbehavingServer(GOOD, "hang") as silent:
        builder = sample_builder(tmp_path, silent.url)
        start = time.monotonic()
        with pytest.raises(fm.ArchiveUnavailableError, match=re.escape(silent.url + TRAIN_IMAGES)):
            builder.download_and_prepare()
        # One HEAD and one GET, each given up after TIMEOUT.
        assert 2 * TIMEOUT <= time.monotonic() - start < 2 * TIMEOUT + 5


def test_the_default_timeout_applies_to_http_and_https_and_yields_to_the_callers():
    builder = fm.FashionMnist(config_name="sample")
    for protocol in ("http", "https"):
        timeout = builder.storage_options[protocol]["client_kwargs"]["timeout"]
        assert (timeout.total, timeout.connect, timeout.sock_read) == (None, fm.TIMEOUT, fm.TIMEOUT)
    own = {"http": {"client_kwargs": {"timeout": "callers"}, "headers": {"x": "y"}}}
    builder = fm.FashionMnist(config_name="sample", storage_options=own, timeout=3)
    assert builder.storage_options["http"] == {"client_kwargs": {"timeout": "callers"}, "headers": {"x": "y"}}
    assert builder.storage_options["https"]["client_kwargs"]["timeout"].sock_read == 3
    assert own == {"http": {"client_kwargs": {"timeout": "callers"}, "headers": {"x": "y"}}}, "left unchanged"


def test_verified_downloads_are_not_fetched_again_even_with_every_host_down(tmp_path):
    # The first build gets the train archives, then fails on the test ones: nothing is finished.
    with MisbehavingServer({TRAIN_IMAGES: GOOD[TRAIN_IMAGES], TRAIN_LABELS: GOOD[TRAIN_LABELS]}) as host:
        with pytest.raises(fm.ArchiveUnavailableError, match=TEST_IMAGES):
            sample_builder(tmp_path, host.url).download_and_prepare()
        assert finished_infos(tmp_path) == []
        # The next build fetches only what it lacks.
        host.files.update(GOOD)
        host.requests.clear()
        builder = sample_builder(tmp_path, host.url)
        builder.download_and_prepare()
        assert_sample_rows(builder)
        assert host.gets() == [TEST_IMAGES, TEST_LABELS]
        url = host.url
    # With the host gone, preparing the dataset again (downloads kept, dataset regenerated) needs no network.
    builder = sample_builder(tmp_path, url)
    builder.download_and_prepare(download_mode="reuse_cache_if_exists")
    assert_sample_rows(builder)


def test_verified_downloads_are_reused_with_every_host_down_under_a_download_config_of_the_callers(tmp_path):
    """A DownloadConfig of the caller's asks for ETags by default (use_etag), which needs the host up."""
    with MisbehavingServer(GOOD) as host:
        config = datasets.DownloadConfig(cache_dir=str(tmp_path / "downloads"))
        sample_builder(tmp_path, host.url).download_and_prepare(download_config=config)
        url = host.url
    builder = sample_builder(tmp_path, url)
    builder.download_and_prepare(
        download_mode="reuse_cache_if_exists", download_config=datasets.DownloadConfig(cache_dir=config.cache_dir)
    )
    assert_sample_rows(builder)


def test_a_cached_download_cut_on_disk_is_fetched_again(tmp_path):
    with MisbehavingServer(GOOD) as host:
        sample_builder(tmp_path, host.url).download_and_prepare()
        [cached] = [
            path
            for path in (tmp_path / "downloads").iterdir()
            if path.suffix == "" and path.read_bytes() == GOOD[TRAIN_IMAGES]
        ]
        cached.write_bytes(GOOD[TRAIN_IMAGES][:1000])
        host.requests.clear()
        builder = sample_builder(tmp_path, host.url)
        builder.download_and_prepare(download_mode="reuse_cache_if_exists")
        assert_sample_rows(builder)
        assert host.gets() == [TRAIN_IMAGES]
    assert cached.read_bytes() == GOOD[TRAIN_IMAGES]


def test_the_official_archives_cut_short_by_the_first_host_come_from_the_second(tmp_path, official_dir):
    files = {path.name: path.read_bytes() for path in official_dir.glob("*.gz")}
    with MisbehavingServer(files, "truncate-no-length") as cut, MisbehavingServer(files) as good:
        builder = fm.FashionMnist(cache_dir=str(tmp_path), base_urls=(cut.url, good.url), timeout=TIMEOUT)
        builder.download_and_prepare()
        assert good.gets() == ARCHIVES
    assert {split: builder.as_dataset(split=split).num_rows for split in ("train", "test")} == {
        "train": 60_000,
        "test": 10_000,
    }
