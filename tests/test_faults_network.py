"""Hosts that misbehave: the builder falls through to the next host, fetches a download that fails verification
(or was cut short) once more, bounds every wait by its timeout and every request by its deadline, says which URLs
failed and how when none works, and never fetches again what it already downloaded and verified."""

import json
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
from tests.misbehaving_server import HTML_PAGE, TRICKLE_INTERVAL, MisbehavingServer, refused_url

GOOD = sample_files()
ARCHIVES = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]  # in the order the builder fetches them
TIMEOUT = 0.5  # the builder's timeout in these tests, in seconds
MIN_RATE = 20_000  # the builder's floor rate in these tests
# Every request's deadline: the timeout plus the largest sample archive, the train images, at MIN_RATE (1.8 s).
DEADLINE = TIMEOUT + max(len(data) for data in GOOD.values()) / MIN_RATE
# The longest a host may hold a build in these tests: for each of the 4 archives, two attempts of at most three
# requests (HEAD, a GET for the size, the GET), each within the deadline.
LONGEST_WAIT = len(GOOD) * 2 * 3 * DEADLINE
# Upper bounds on waits tell a bounded wait from an unbounded one (aiohttp's 300 s, a trickle's 2 hours), with room
# for a loaded machine; they are not speed targets.
UNBOUNDED = 60


def sample_builder(cache_dir, *base_urls, **kwargs):
    return fm.FashionMnist(
        cache_dir=str(cache_dir),
        config_name="sample",
        base_urls=base_urls,
        timeout=TIMEOUT,
        min_rate=MIN_RATE,
        **kwargs,
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
        ("truncate", 2),  # half the announced Content-Length, then the connection closes: fetched once more
        # Half the bytes and no Content-Length: only verification can tell. Without a length in the HEAD
        # answer fsspec also asks with GET for the size, so each of the two attempts makes two GETs.
        ("truncate-no-length", 4),
        ("trickle", 1),  # a byte every 0.3 s: abandoned at the deadline
        ("endless", 2),  # no Content-Length (fsspec GETs the size), then a body without end: abandoned at the deadline
        ("oversize", 2),  # twice the archive's size: downloaded, fails the size check, fetched once more
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
    # Each silent request costs one TIMEOUT, each slow one the deadline; nothing waits for aiohttp's 5 minutes.
    assert LONGEST_WAIT < UNBOUNDED and elapsed < UNBOUNDED


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


@pytest.mark.parametrize("behavior", ["truncate", "html"])
def test_a_download_cut_short_or_failing_verification_once_is_fetched_again_from_the_same_host(tmp_path, behavior):
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

        # Once the host is fixed the next build succeeds: what the bad attempts left in the downloads folder (a
        # partial file, or a cut one taken for finished) fails verification and is fetched again.
        host.behavior = "ok"
        host.requests.clear()
        builder = sample_builder(tmp_path, host.url)
        builder.download_and_prepare()
        assert_sample_rows(builder)
        assert TRAIN_IMAGES in host.gets()


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
    assert elapsed < UNBOUNDED


@pytest.mark.parametrize(
    ("behavior", "gets", "problem"),
    [
        ("trickle", 1, f"TimeoutError: too slow: not complete within the {DEADLINE:.1f} s deadline"),
        ("endless", 2, f"TimeoutError: too slow: not complete within the {DEADLINE:.1f} s deadline"),
        (
            "oversize",
            2,
            "ArchiveError: {url}: 53,124 bytes, but train-images-idx3-ubyte.gz has 26,562 bytes "
            "(truncated, or not the archive)",
        ),
    ],
    ids=["trickle", "endless", "oversize"],
)
def test_a_host_too_slow_or_sending_too_much_is_abandoned_with_a_reason(tmp_path, behavior, gets, problem):
    """No documented option caps a body's size: a body without end is stopped by the deadline, and a body too long
    fails the size check (and is fetched once more, as any download that fails verification)."""
    with MisbehavingServer(GOOD, behavior) as host:
        builder = sample_builder(tmp_path, host.url)
        start = time.monotonic()
        with pytest.raises(fm.ArchiveUnavailableError) as error:
            builder.download_and_prepare()
        elapsed = time.monotonic() - start
        assert host.gets() == [TRAIN_IMAGES] * gets
    url = host.url + TRAIN_IMAGES
    assert f"\n  {url}: {problem.format(url=url)}\n" in str(error.value)
    assert_no_finished_dataset(tmp_path, config_name="sample", base_urls=(host.url,), timeout=TIMEOUT)
    # A trickle of one byte per 0.3 s would take 2 hours, an endless body for ever.
    assert elapsed < UNBOUNDED < len(GOOD[TRAIN_IMAGES]) * TRICKLE_INTERVAL


def test_a_full_downloads_folder_is_named_and_no_other_host_is_tried(tmp_path):
    with MisbehavingServer(GOOD) as host, MisbehavingServer(GOOD) as other:
        url = host.url + TRAIN_IMAGES
        # The name under which the download manager saves the train images, read from a first build's metadata.
        sample_builder(tmp_path / "probe", host.url).download_and_prepare()
        [name] = [
            path.stem
            for path in (tmp_path / "probe" / "downloads").glob("*.json")
            if json.loads(path.read_text())["url"] == url
        ]
        # In a new cache, the download of the train images goes to a file that is always full.
        partial = tmp_path / "cache" / "downloads" / (name + ".incomplete")
        partial.parent.mkdir(parents=True)
        partial.symlink_to("/dev/full")
        builder = sample_builder(tmp_path / "cache", host.url, other.url)
        with pytest.raises(fm.DiskFullError) as error:
            builder.download_and_prepare()
        assert str(error.value) == (
            f"No space left in {tmp_path / 'cache' / 'downloads'} for {TRAIN_IMAGES} (26,562 bytes) from {url}: "
            "free some space there, or build with a cache_dir elsewhere"
        )
        assert other.gets() == []
        partial.unlink()  # space again
        builder = sample_builder(tmp_path / "cache", host.url, other.url)
        builder.download_and_prepare()
        assert_sample_rows(builder)


def test_the_floor_rate_must_be_positive():
    with pytest.raises(ValueError, match="min_rate must be a positive number of bytes per second, got 0"):
        fm.FashionMnist(config_name="sample", min_rate=0)


@pytest.mark.parametrize("download_config", [False, True], ids=["the builder's", "a DownloadConfig of the caller's"])
def test_a_silent_host_is_given_up_after_the_timeout(tmp_path, download_config):
    """Also under a caller's DownloadConfig, whose storage options would otherwise be aiohttp's defaults (5 minutes)."""
    kwargs = (
        {"download_config": datasets.DownloadConfig(cache_dir=str(tmp_path / "downloads"))} if download_config else {}
    )
    with MisbehavingServer(GOOD, "hang") as silent:
        builder = sample_builder(tmp_path, silent.url)
        start = time.monotonic()
        with pytest.raises(fm.ArchiveUnavailableError) as error:
            builder.download_and_prepare(**kwargs)
        # One HEAD and one GET, each given up after TIMEOUT.
        assert time.monotonic() - start < UNBOUNDED
    assert f"  {silent.url}{TRAIN_IMAGES}: FileNotFoundError (SocketTimeoutError: " in str(error.value)


def test_the_default_timeouts_apply_to_http_and_https_and_yield_to_the_callers(tmp_path):
    builder = fm.FashionMnist(cache_dir=str(tmp_path))  # the official archives: the largest has 26,421,880 bytes
    for protocol in ("http", "https"):
        timeout = builder.storage_options[protocol]["client_kwargs"]["timeout"]
        deadline = fm.TIMEOUT + 26_421_880 / fm.MIN_RATE
        assert (timeout.total, timeout.connect, timeout.sock_read) == (deadline, fm.TIMEOUT, fm.TIMEOUT)
    own = {"http": {"client_kwargs": {"timeout": "callers"}, "headers": {"x": "y"}}}
    builder = fm.FashionMnist(cache_dir=str(tmp_path), config_name="sample", storage_options=own, timeout=3)
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


def test_an_error_that_is_its_own_cause_is_described_in_one_line():
    """`raise error from error` makes a cycle of causes: the description ends."""
    error = ConnectionError("refused")
    error.__cause__ = error
    assert fm._describe(error, "http://127.0.0.1:9/x.gz") == "ConnectionError: refused"
