"""The measurements of benchmarks/bench.py that run in a fresh interpreter: a build, the profile of a build, a cold
load, the arrays. `spawn` starts one (this module run by `sys.executable`) and samples its process tree's memory.

Peak memory of a process tree, sampled every SAMPLE_INTERVAL with psutil over the process and all its descendants:
- tree PSS, the memory target's measure: the peak of their summed proportional set size (a page shared by k
  processes, such as what a `num_proc` worker inherits by fork, counts 1/k in each): what the build takes;
- tree RSS: the same sum of RSS, which counts shared pages once per process, an upper bound;
- largest process: the kernel's `ru_maxrss` of the build process and of its largest child, exact, one at a time.
"""

import cProfile
import gzip
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import datasets
import numpy as np
import psutil
from PIL import Image

import fashion_mnist as fm
from benchmarks.figures import VARIANTS
from tools.common import REPO

SAMPLE_INTERVAL = 0.02  # seconds between two samples of a process tree's memory
# The phases of a build's CPU time, each the functions it enters: the profile sums their cumulative time over
# the calls made from outside them. What no phase names is the rest, by difference.
PHASES = {
    "read each archive once": [fm._read_bytes],
    "size + SHA-256 of those bytes": [fm.verify_archive],
    "decompress and parse the IDX": [fm.read_split],
    "encode PNGs": [fm.encode_pngs],
    "datasets: encode_example": [datasets.Features.encode_example],
    "datasets: buffer and write Arrow": [
        getattr(datasets.arrow_writer.ArrowWriter, name) for name in ("__init__", "write", "finalize", "close")
    ],
}
REST = "the rest: generator, datasets' loop, info, files (by difference)"


def splits_of(config: str) -> tuple:
    return fm.SAMPLE_SPLITS if config == "sample" else fm.OFFICIAL_SPLITS


def archive_arrays(folder: Path, split: fm.SplitArchives) -> tuple[np.ndarray, np.ndarray]:
    """A split's images and labels read the way keras and torchvision do: gzip, then `numpy.frombuffer`."""
    with gzip.open(Path(folder) / split.images.filename) as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(Path(folder) / split.labels.filename) as file:
        return images, np.frombuffer(file.read(), np.uint8, offset=8)


def ended_children_cpu() -> float:
    """CPU time of this process's children that have ended, and of their children."""
    times = psutil.Process().cpu_times()
    return times.children_user + times.children_system


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its children that have ended (a build's workers)."""
    return time.process_time() + ended_children_cpu()


def timed(work) -> tuple[dict, object]:
    """({"wall": seconds, "cpu": seconds} of `work()`, its result)."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = work()
    return {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}, result


class PerExampleBaseline(fm.FashionMnist):
    """The straightforward builder the targets compare against: each split's archives read into numpy, one numpy
    image yielded per example, which `datasets` encodes to PNG with Pillow. Same configs, features and cache
    settings as `FashionMnist`; it skips the SHA-256 checks, which only makes it faster."""

    def _split_generators(self, dl_manager):
        return [
            datasets.SplitGenerator(name=split.split, gen_kwargs={"folder": self.config.data_dir, "split": split})
            for split in self.config.splits
        ]

    def _generate_examples(self, folder, split):
        images, labels = archive_arrays(folder, split)
        for index, (image, label) in enumerate(zip(images, labels.tolist(), strict=True)):
            yield index, {"image": image, "label": label}


def build(spec: dict) -> dict:
    """Wall and CPU time of `download_and_prepare`, and the largest process's peak RSS."""
    builder_class = PerExampleBaseline if VARIANTS[spec["variant"]].baseline else fm.FashionMnist
    builder = builder_class(config_name=spec["config"], data_dir=spec["data_dir"], cache_dir=spec["cache_dir"])
    result, _ = timed(lambda: builder.download_and_prepare(num_proc=spec["num_proc"]))
    largest = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    num_examples = {name: split.num_examples for name, split in builder.info.splits.items()}
    return {**result, "peak_largest_process": largest * 1024, "num_examples": num_examples}


def profile(spec: dict) -> dict:
    """Seconds of a one-process FashionMnist build by phase (PHASES), from cProfile, with the wall and CPU time of
    the profiled build; and this PNG encoder against Pillow's default on the same images."""
    builder = fm.FashionMnist(config_name=spec["config"], data_dir=spec["data_dir"], cache_dir=spec["cache_dir"])
    # Calls into C are not profiled, and the clock is the profiler's default (wall): each profiled call costs less,
    # and so distorts less, than with a CPU clock (docs/benchmark.md).
    profiler = cProfile.Profile(builtins=False)
    whole, _ = timed(lambda: profiler.runcall(builder.download_and_prepare, num_proc=None))
    stats = pstats.Stats(profiler)
    phases = {name: phase_seconds(stats, functions) for name, functions in PHASES.items()}
    phases[REST] = stats.total_tt - sum(phases.values())

    images = np.concatenate([archive_arrays(spec["data_dir"], split)[0] for split in splits_of(spec["config"])])
    ours, pngs = timed(lambda: [len(png) for png in fm.encode_pngs(images)])
    pillow, pillow_pngs = timed(lambda: [len(pillow_png(image)) for image in images])
    return {
        "phases": phases,
        "profiled": whole,
        "num_examples": len(images),
        "png_bytes_ours": sum(pngs) / len(images),
        "png_bytes_pillow": sum(pillow_pngs) / len(images),
        **{
            f"encode_us_{name}": {key: seconds / len(images) * 1e6 for key, seconds in timing.items()}
            for name, timing in (("ours", ours), ("pillow", pillow))
        },
    }


def pillow_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def phase_seconds(stats: pstats.Stats, functions: list) -> float:
    """Cumulative seconds in the calls of `functions` made from outside them: a nested call counts once."""
    keys = {(f.__code__.co_filename, f.__code__.co_firstlineno, f.__code__.co_name) for f in functions}
    seconds = 0.0
    for key in keys & stats.stats.keys():
        _, _, _, cumulative, callers = stats.stats[key]
        # Per caller: (calls, primitive calls, own time, cumulative time). A function the profile started in has none.
        seconds += sum(timing[3] for caller, timing in callers.items() if caller not in keys) if callers else cumulative
    return seconds


def load(spec: dict) -> dict:
    """A cold `load_dataset` of one config of an export folder: wall and CPU time, rows, Arrow cache bytes."""
    result, loaded = timed(lambda: datasets.load_dataset(spec["folder"], spec["config"], cache_dir=spec["cache_dir"]))
    return {**result, **dataset_sizes(loaded)}


def dataset_sizes(loaded: datasets.DatasetDict) -> dict:
    """Rows per split, and the bytes of the Arrow cache files that `load_dataset` wrote."""
    files = {entry["filename"] for split in loaded.values() for entry in split.cache_files}
    return {
        "num_examples": {name: split.num_rows for name, split in loaded.items()},
        "cache_bytes": sum(os.path.getsize(name) for name in files),
    }


def arrays(spec: dict) -> dict:
    """Median wall and CPU seconds to get every train and test pixel as uint8 arrays: gzip + frombuffer on the
    archives, the export's arrays config from a fresh cache, and again from the cache it left (warm)."""

    def from_archives():
        return [archive_arrays(spec["data_dir"], split) for split in splits_of(spec["config"])]

    def from_config(cache_dir):
        loaded = datasets.load_dataset(spec["folder"], "arrays", cache_dir=cache_dir)
        return loaded, {name: split.with_format("numpy", dtype=np.uint8)[:] for name, split in loaded.items()}

    runs = {"archive_arrays_seconds": [], "arrays_cold_seconds": [], "arrays_warm_seconds": []}
    for repeat in range(spec["repeats"]):
        cache_dir = os.path.join(spec["cache_dir"], f"arrays-{repeat}")
        runs["archive_arrays_seconds"].append(timed(from_archives)[0])
        cold, (loaded, _) = timed(lambda cache_dir=cache_dir: from_config(cache_dir))
        runs["arrays_cold_seconds"].append(cold)
        runs["arrays_warm_seconds"].append(timed(lambda cache_dir=cache_dir: from_config(cache_dir))[0])
    medians = {name: {key: statistics.median(run[key] for run in timings) for key in ("wall", "cpu")}
               for name, timings in runs.items()}  # fmt: skip
    return {**medians, **dataset_sizes(loaded)}


KINDS = {"build": build, "profile": profile, "load": load, "arrays": arrays}


class TreeMemorySampler(threading.Thread):
    """Peak summed PSS and RSS of a process and all its descendants, sampled with psutil every `interval`."""

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_pss = self.peak_rss = self.samples = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.wait(self.interval):
            pss = rss = 0
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue  # the process has ended
            for process in tree:
                try:
                    memory = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue  # it ended between listing and reading
                pss, rss = pss + memory.pss, rss + memory.rss
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.samples += 1

    def stop(self):
        self._stop_event.set()
        self.join()


def spawn(spec: dict, work: Path) -> dict:
    """Run the measurement `spec` (its "kind" a key of KINDS) in a fresh interpreter, sampling its memory."""
    out = work / f"measure-{time.monotonic_ns()}.json"
    command = [sys.executable, "-m", "benchmarks.measure", json.dumps(spec), str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    started, children_cpu = time.perf_counter(), ended_children_cpu()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = TreeMemorySampler(process.pid)
    sampler.start()
    output, _ = process.communicate()
    sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"benchmark measurement {spec} failed:\n{output.decode(errors='replace')}")
    result = json.loads(out.read_text())
    out.unlink()
    return {
        **result,
        "process": {"wall": time.perf_counter() - started, "cpu": ended_children_cpu() - children_cpu},
        "peak_tree_pss": sampler.peak_pss,
        "peak_tree_rss": sampler.peak_rss,
        "memory_samples": sampler.samples,
    }


if __name__ == "__main__":
    datasets.disable_progress_bars()
    spec, out = json.loads(sys.argv[1]), Path(sys.argv[2])
    out.write_text(json.dumps(KINDS[spec["kind"]](spec)))
