"""Builds killed part-way (SIGKILL, to the process and any workers it started) and builds running at
once: nothing half-written is ever taken for a finished dataset, the next build completes, and two
builds into the same cache both end with the same complete dataset."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import datasets
import numpy as np
import psutil
import pytest

import fashion_mnist as fm
from tests.archives import archive_arrays, dataset_arrays
from tests.faults import TRAIN_IMAGES, assert_no_finished_dataset, assert_sample_rows, finished_infos, sample_files
from tests.fixtures import SAMPLE_DIR, python, require_official_archives
from tests.misbehaving_server import MisbehavingServer
from tools import layout

WAIT = 120  # seconds any single step of these tests may take before it is a failure


def start(*args: str) -> subprocess.Popen:
    """`python -m tests.build_process ARGS` in a new session, so that killing its group ends its workers too."""
    return python("-m", "tests.build_process", *args, start_new_session=True)


def wait_until(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the build ended before {what}:\n{process.stderr.read()}")
        if time.monotonic() > deadline:
            kill(process)
            pytest.fail(f"no {what} within {WAIT} s")
        time.sleep(0.01)


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=WAIT)
    process.stdout.close()
    process.stderr.close()


def finish(process: subprocess.Popen) -> dict:
    """Wait for a build process to succeed; its JSON summary."""
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def incomplete_arrow_files(cache_dir: Path) -> list[Path]:
    return [p for p in cache_dir.rglob("*.arrow") if any(part.endswith(".incomplete") for part in p.parts)]


def arrow_files_in_use(builder) -> set[Path]:
    return {Path(f["filename"]) for split in builder.as_dataset().values() for f in split.cache_files}


@pytest.mark.parametrize("num_procs", [(1, 2), (2, 1)], ids=["killed 1 process, then 2", "killed 2, then 1"])
@pytest.mark.parametrize("stop_at", ["train:25", "test:5"], ids=["in train", "in test, train written"])
def test_a_build_killed_while_generating_is_not_taken_for_finished(tmp_path, stop_at, num_procs):
    killed_num_proc, next_num_proc = num_procs
    stopped = tmp_path / "stopped"
    process = start(
        str(tmp_path),
        f"--stop-at={stop_at}",
        f"--stopped={stopped}",
        f"--num-proc={killed_num_proc}",
        "--shard-size=16",  # several shards per split, for the processes to share
        "--writer-batch-size=10",  # examples reach the Arrow files before the kill
    )
    wait_until(stopped.exists, process, "generation reached " + stop_at)
    kill(process)

    left = {path.name for path in incomplete_arrow_files(tmp_path)}
    assert left, "the kill should have caught Arrow files half-written"
    assert_no_finished_dataset(tmp_path, config_name="sample")

    builder = fm.FashionMnist(cache_dir=str(tmp_path), config_name="sample")
    builder.download_and_prepare(num_proc=next_num_proc)
    assert_sample_rows(builder)
    # datasets reuses the .incomplete folder as it finds it: files of the killed build that this one did
    # not overwrite move along with the finished dataset. They are never read (a split reads the files
    # its split info names, all written by this build), and they are the only extra files.
    unused = {path.name for path in Path(builder.cache_dir).glob("*.arrow")} - {
        path.name for path in arrow_files_in_use(builder)
    }
    assert unused <= left


def test_a_build_killed_while_downloading_leaves_no_download_taken_for_complete(tmp_path):
    files = sample_files()
    with MisbehavingServer(files, ["stall", "ok"]) as host:
        process = start(str(tmp_path), f"--base-url={host.url}")
        wait_until(lambda: TRAIN_IMAGES in host.gets(), process, "the download started")
        wait_until(lambda: list((tmp_path / "downloads").glob("*.incomplete")), process, "a partial download")
        kill(process)
        assert not list((tmp_path / "downloads").glob("*.json")), "no download was complete"
        host.behavior = "ok"
        assert_no_finished_dataset(tmp_path, config_name="sample", base_urls=(host.url,))

        builder = fm.FashionMnist(cache_dir=str(tmp_path), config_name="sample", base_urls=(host.url,))
        builder.download_and_prepare()
        assert_sample_rows(builder)


@pytest.mark.real
@pytest.mark.slow
def test_the_official_build_killed_while_writing_then_completes(tmp_path, official_dir):
    process = start(str(tmp_path), "--config=fashion_mnist", f"--data-dir={official_dir}")
    wait_until(lambda: incomplete_arrow_files(tmp_path), process, "an Arrow file being written")
    kill(process)
    assert_no_finished_dataset(tmp_path, data_dir=str(official_dir))

    builder = fm.FashionMnist(cache_dir=str(tmp_path), data_dir=str(official_dir))
    builder.download_and_prepare()
    test = builder.as_dataset(split="test")
    assert builder.as_dataset(split="train").num_rows == 60_000
    expected_images, expected_labels = archive_arrays(official_dir, "test")
    images, labels = dataset_arrays(test)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(images, expected_images)


@pytest.mark.parametrize("source", ["bundled sample", "download"])
@pytest.mark.parametrize("num_procs", [(1, 1), (1, 2)], ids=["1 and 1 process", "1 and 2 processes"])
def test_two_builds_into_one_cache_at_once_end_with_the_same_dataset(tmp_path, source, num_procs):
    cache_dir = tmp_path / "cache"
    go = tmp_path / "go"
    with MisbehavingServer(sample_files()) as host:
        extra = [f"--base-url={host.url}"] if source == "download" else []
        processes = [
            start(
                str(cache_dir),
                f"--ready={tmp_path / f'ready{i}'}",
                f"--go={go}",
                "--pause=0.3",  # each split takes a while, so that the builds overlap
                f"--num-proc={num_proc}",
                "--shard-size=16",
                *extra,
            )
            for i, num_proc in enumerate(num_procs)
        ]
        for i, process in enumerate(processes):
            wait_until((tmp_path / f"ready{i}").exists, process, "the process was ready")
        go.touch()
        summaries = [finish(process) for process in processes]
        if source == "download":
            # The download lock let one process fetch each archive; the other found it in the cache.
            assert sorted(host.gets()) == sorted(sample_files())

    assert summaries[0] == summaries[1]
    assert {split: rows for split, (rows, _) in summaries[0].items()} == {"train": 60, "test": 40}
    assert len(finished_infos(cache_dir)) == 1
    kwargs = {"base_urls": (host.url,)} if source == "download" else {}
    builder = fm.FashionMnist(cache_dir=str(cache_dir), config_name="sample", **kwargs)
    assert_sample_rows(builder)


def export_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "stop",
    ["--stop-at=test:5", "--stop-after-parquet=1"],
    ids=["while building", "after one Parquet file"],
)
def test_an_export_killed_part_way_leaves_the_previous_folder(tmp_path, stop):
    out = tmp_path / "hub"
    first = start(str(tmp_path / "cache1"), f"--export={out}")
    finish(first)
    previous = export_files(out)
    assert sorted(previous) == sorted([layout.MANIFEST, *json.loads(previous[layout.MANIFEST])["files"]])

    stopped = tmp_path / "stopped"
    process = start(str(tmp_path / "cache2"), f"--export={out}", stop, f"--stopped={stopped}")
    wait_until(stopped.exists, process, "the export reached " + stop)
    kill(process)

    assert export_files(out) == previous
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "load"))
    for split in ("train", "test"):
        images, labels = dataset_arrays(loaded[split])
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(images, expected_images)

    finish(start(str(tmp_path / "cache2"), f"--export={out}"))
    assert export_files(out) == previous, "the same archives export to the same bytes"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".hub.lock"]


STOP_MESSAGE = "tools.export: stopped by {}; nothing half-written was left"


def beside(out: Path) -> list[str]:
    """What an export leaves beside its folder, besides the folder and its lock file."""
    return sorted(p.name for p in out.parent.iterdir() if p.name not in (out.name, f".{out.name}.lock", "flag"))


def stop_during(stage: str, tmp_path: Path, out: Path, host_url: str | None) -> subprocess.Popen:
    """Start `tools.export --out OUT` and return once it has reached `stage`."""
    stopped = tmp_path / "flag"
    cache = str(tmp_path / "cache2")
    if stage == "download":
        process = start(cache, f"--export={out}", "--config=fashion_mnist", f"--base-url={host_url}")
        reached = lambda: list((tmp_path / "cache2" / "downloads").glob("*.incomplete"))  # noqa: E731
    elif stage == "generation, 2 processes":
        process = start(cache, f"--export={out}", "--num-proc=2", "--shard-size=16", "--stop-at=train:25",
                        f"--stopped={stopped}")  # fmt: skip
        reached = stopped.exists
    else:
        process = start(cache, f"--export={out}", "--stop-after-parquet=3", f"--stopped={stopped}")
        reached = stopped.exists
    wait_until(reached, process, f"the export reached {stage}")
    return process


def workers_of(process: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def assert_all_ended(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=WAIT)
    assert not alive, f"worker processes left running: {alive}"


STAGES = [pytest.param("download", marks=pytest.mark.real), "generation, 2 processes", "Parquet writing"]


SIGNALS = {  # how the signal is sent: (signal, to the whole process group)
    "SIGINT to the group (Ctrl-C)": (signal.SIGINT, True),
    "SIGTERM to the main process": (signal.SIGTERM, False),
    "SIGTERM to the group": (signal.SIGTERM, True),
}


@pytest.mark.parametrize("how", SIGNALS)
@pytest.mark.parametrize("stage", STAGES)
def test_an_export_stopped_by_a_signal_says_so_in_one_line_and_keeps_the_previous_export(tmp_path, stage, how):
    signum, to_group = SIGNALS[how]
    out = tmp_path / "hub"
    finish(start(str(tmp_path / "cache1"), f"--export={out}"))
    previous = export_files(out)
    official = require_official_archives() if stage == "download" else None
    files = {p.name: p.read_bytes() for p in official.glob("*.gz")} if official else {}
    with MisbehavingServer(files, "stall") as host:
        process = stop_during(stage, tmp_path, out, host.url)
        workers = workers_of(process)
        if to_group:
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("tools.export")]
    # With SIGTERM to the group, a worker may die holding its pool's lock: the command then ends the pool's processes
    # after cli.CLEANUP_SECONDS, and its cleanup runs as usual.
    assert lines == [STOP_MESSAGE.format(signal.Signals(signum).name)], stderr
    assert_all_ended(workers)
    assert export_files(out) == previous
    assert beside(out) == ["cache1", "cache2"], "no partial or set-aside folder is left"


def test_an_export_killed_with_its_workers_leaves_the_previous_export_and_the_next_one_clears_its_folder(tmp_path):
    """SIGKILL to the process group, workers included. (SIGKILL to the main process alone leaves `datasets`' worker
    pool and the manager process of its queue running until their shard is done, or for ever: `datasets`' behaviour,
    docs/faults.md.)"""
    out = tmp_path / "hub"
    finish(start(str(tmp_path / "cache1"), f"--export={out}"))
    previous = export_files(out)
    process = stop_during("generation, 2 processes", tmp_path, out, None)
    workers = workers_of(process)
    assert len(workers) >= 2, "the build runs in worker processes"
    kill(process)
    assert_all_ended(workers)
    assert export_files(out) == previous
    assert [path.name[:9] for path in tmp_path.glob(".hub.new-*")] == [".hub.new-"], "what the killed run left"
    (tmp_path / "flag").unlink()
    finish(start(str(tmp_path / "cache2"), f"--export={out}"))
    assert export_files(out) == previous
    assert beside(out) == ["cache1", "cache2"]


def test_a_second_export_to_the_same_out_is_refused_while_the_first_writes(tmp_path):
    out = tmp_path / "hub"
    stopped = tmp_path / "flag"
    first = start(str(tmp_path / "cache1"), f"--export={out}", "--stop-after-parquet=1", f"--stopped={stopped}")
    wait_until(stopped.exists, first, "the first export wrote a Parquet file")
    second = start(str(tmp_path / "cache2"), f"--export={out}")
    _, stderr = second.communicate(timeout=WAIT)
    assert second.returncode == 1
    assert [line for line in stderr.splitlines() if line.startswith("tools.export")] == [
        f"tools.export: error: Another run is writing {out} (it holds {tmp_path / '.hub.lock'}): "
        "wait for it to end, then run this again."
    ]
    os.kill(first.pid, signal.SIGTERM)
    first.communicate(timeout=WAIT)
    assert first.returncode == 143
    assert not out.exists() and beside(out) == ["cache1"], "refused before building into cache2"
    finish(start(str(tmp_path / "cache2"), f"--export={out}"))


def start_together(tmp_path: Path, *commands: list[str]) -> list[subprocess.Popen]:
    go = tmp_path / "go"
    processes = [start(*command, f"--ready={tmp_path / f'ready{i}'}", f"--go={go}", "--pause=0.3")
                 for i, command in enumerate(commands)]  # fmt: skip
    for i, process in enumerate(processes):
        wait_until((tmp_path / f"ready{i}").exists, process, "the process was ready")
    go.touch()
    return processes


def test_two_exports_to_one_out_at_once_leave_one_whole_export(tmp_path):
    out = tmp_path / "hub"
    processes = start_together(
        tmp_path, [str(tmp_path / "cache1"), f"--export={out}"], [str(tmp_path / "cache2"), f"--export={out}"]
    )
    results = [(process.communicate(timeout=WAIT), process.returncode) for process in processes]
    assert sorted(code for _, code in results) == [0, 1]
    refused = next(stderr for (_, stderr), code in results if code == 1)
    assert f"tools.export: error: Another run is writing {out}" in refused
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "load"))
    assert {split: loaded[split].num_rows for split in loaded} == {"train": 60, "test": 40}
    files = export_files(out)
    assert sorted(files) == sorted([layout.MANIFEST, *json.loads(files[layout.MANIFEST])["files"]])


def test_two_exports_sharing_a_cache_at_once_both_finish_with_the_same_files(tmp_path):
    cache = str(tmp_path / "cache")
    one, two = tmp_path / "one", tmp_path / "two"
    processes = start_together(tmp_path, [cache, f"--export={one}"], [cache, f"--export={two}"])
    assert [finish(process) for process in processes] == [{"exit": 0}, {"exit": 0}]
    assert export_files(one) == export_files(two)
