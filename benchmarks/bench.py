"""Benchmark: build Fashion-MNIST, export it, load it and read it, measured side by side in one run.

    .venv/bin/python benchmarks/bench.py                         # the official archives (FASHION_MNIST_ARCHIVES)
    .venv/bin/python benchmarks/bench.py --data-dir DIR --repeats 5 --json results.json
    .venv/bin/python benchmarks/bench.py --sample --repeats 1    # the bundled sample archives: a quick smoke run
    .venv/bin/python benchmarks/bench.py --folder build/hub      # time loading an export you already have

In one run:
1. builds the dataset with a per-example baseline (the IDX read into numpy, one numpy image per example,
   `datasets` encoding each to PNG with Pillow, one process) and with `FashionMnist` (num_proc = CPU count, and 1),
   alternately, --repeats times, each in a fresh process with a fresh cache: wall and CPU time of
   `download_and_prepare` (the process and its workers, through psutil) and the peak memory of the process tree;
2. profiles a one-process `FashionMnist` build with cProfile and sums its CPU time by phase (PHASES: the functions
   of the builder and of `datasets` that each phase calls), and compares its PNG encoder with Pillow's;
3. exports the last build (`tools.export.write_folder`) and times a cold `load_dataset(folder)`;
4. times all train and test pixels as `uint8` arrays from the export's `arrays` config, warm and from a fresh cache,
   against gzip + `numpy.frombuffer` on the four archives, and sizes each config's Parquet files and Arrow cache;
5. times one pass over the train split: plain iteration, numpy batches, the card's fast path (tools/fast_path.py)
   and 256-row slices of the archives' array (the floor);
6. prints every figure (FIGURES) and ratio (RATIOS, some with a target) and writes them as JSON.

Peak memory of a build, sampled every 20 ms with psutil over the build process and all its descendants:
- tree PSS, the target's measure: the peak of their summed proportional set size (a page shared by k processes,
  such as what a `num_proc` worker inherits by fork, counts 1/k in each): what the build takes from the machine;
- tree RSS: the same sum of RSS, which counts shared pages once per process, an upper bound;
- largest process: the kernel's `ru_maxrss` of the build process and of its largest child, exact but one at a time.
"""

import argparse
import cProfile
import dataclasses
import gzip
import io
import json
import operator
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_DATA_DIR = Path(os.environ.get("FASHION_MNIST_ARCHIVES", REPO.parent / "shared" / "fashion-mnist"))
DEFAULT_JSON = REPO / "build" / "bench" / "results.json"
BATCH_SIZE = 256
SAMPLE_INTERVAL = 0.02  # seconds between two samples of a build's process tree
CONFIGS = ("fashion_mnist", "arrays")  # the export's configs; the first is the default


# What the run reports. A figure of unit "s" has a wall time and, beside it, the CPU time of the same work.


@dataclasses.dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str  # "s", "bytes", "MiB" (memory), "B/image", "us/image" or "rows"


@dataclasses.dataclass(frozen=True)
class Target:
    op: str  # a key of OPERATORS
    bound: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.bound)


OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


@dataclasses.dataclass(frozen=True)
class Ratio:
    """`numerator / denominator`, two figures of this run; of their CPU times when `cpu` is true."""

    name: str
    label: str
    numerator: str
    denominator: str
    target: Target | None = None
    cpu: bool = False


VARIANTS = {
    "baseline": "per-example baseline, 1 process",
    "ours": "FashionMnist, num_proc={num_proc}",
    "ours_1proc": "FashionMnist, num_proc=1",
}
BUILD_MEASURES = {
    "seconds": ("download_and_prepare", "s"),
    "peak_tree_pss": ("peak tree PSS", "MiB"),
    "peak_tree_rss": ("peak tree RSS", "MiB"),
    "peak_largest_process": ("largest process (ru_maxrss)", "MiB"),
}
FIGURES = (
    *(
        Figure(f"build_{variant}_{measure}", f"build, {label}: {what}", unit)
        for variant, label in VARIANTS.items()
        for measure, (what, unit) in BUILD_MEASURES.items()
    ),
    Figure("png_bytes_ours", "PNG bytes per image, this encoder", "B/image"),
    Figure("png_bytes_pillow", "PNG bytes per image, Pillow's default", "B/image"),
    Figure("encode_us_ours", "PNG encoding, this encoder", "us/image"),
    Figure("encode_us_pillow", "PNG encoding, Pillow's default", "us/image"),
    Figure("export_seconds", "export to the Hub folder (write_folder)", "s"),
    Figure("cold_load_seconds", "cold load_dataset(folder)", "s"),
    Figure("cold_load_process_seconds", "  with process start and imports", "s"),
    Figure("archive_arrays_seconds", "all pixels: gzip + numpy.frombuffer on the archives", "s"),
    Figure("arrays_warm_seconds", "all pixels: arrays config, warm cache", "s"),
    Figure("arrays_cold_seconds", "all pixels: arrays config, fresh cache", "s"),
    Figure("archives_bytes", "the four archives", "bytes"),
    *(Figure(f"download_bytes_{config}", f"Parquet download, {config}", "bytes") for config in CONFIGS),
    *(Figure(f"cache_bytes_{config}", f"Arrow cache, {config}", "bytes") for config in CONFIGS),
    Figure("train_examples", "train examples read in each pass", "rows"),
    Figure("epoch_plain_seconds", "epoch: plain iteration (PIL images)", "s"),
    Figure("epoch_numpy_batches_seconds", f"epoch: with_format('numpy'), batches of {BATCH_SIZE}", "s"),
    Figure("epoch_fast_path_seconds", "epoch: fast path, slices of the cached column", "s"),
    Figure("epoch_fast_path_random_access_seconds", "epoch: fast path, shuffled indices (a tenth, scaled)", "s"),
    Figure("epoch_fast_path_shuffled_seconds", "epoch: fast path, shuffled, column in memory", "s"),
    Figure("epoch_numpy_floor_seconds", "epoch: slices of the archives' numpy array (floor)", "s"),
    Figure("fast_path_decode_seconds", "fast path, one-time decode (map, cold)", "s"),
    Figure("fast_path_cached_seconds", "fast path, from the cache (next runs)", "s"),
    Figure("fast_path_to_memory_seconds", "fast path, column into memory", "s"),
)
RATIOS = (
    Ratio(
        "build_speedup", "build time, baseline / FashionMnist (num_proc={num_proc})",
        "build_baseline_seconds", "build_ours_seconds", Target(">=", 3.0),
    ),
    Ratio(
        "build_cpu_speedup_1proc", "build CPU time, baseline / FashionMnist (num_proc=1)",
        "build_baseline_seconds", "build_ours_1proc_seconds", Target(">=", 2.0), cpu=True,
    ),
    Ratio(
        "build_memory_ratio", "peak tree PSS, FashionMnist (num_proc={num_proc}) / baseline",
        "build_ours_peak_tree_pss", "build_baseline_peak_tree_pss", Target("<=", 1.0),
    ),
    Ratio("build_speedup_1proc", "build time, baseline / FashionMnist (num_proc=1)", "build_baseline_seconds",
          "build_ours_1proc_seconds"),
    Ratio("build_memory_ratio_1proc", "peak tree PSS, FashionMnist (num_proc=1) / baseline",
          "build_ours_1proc_peak_tree_pss", "build_baseline_peak_tree_pss"),
    Ratio("build_memory_ratio_tree_rss", "peak tree RSS, FashionMnist (num_proc={num_proc}) / baseline",
          "build_ours_peak_tree_rss", "build_baseline_peak_tree_rss"),
    Ratio("build_memory_ratio_largest_process", "largest process, FashionMnist (num_proc={num_proc}) / baseline",
          "build_ours_peak_largest_process", "build_baseline_peak_largest_process"),
    Ratio("png_size_vs_pillow", "PNG bytes, this encoder / Pillow's default", "png_bytes_ours", "png_bytes_pillow"),
    Ratio(
        "cold_load_fraction", "cold load_dataset(folder) / FashionMnist (num_proc={num_proc}) build time",
        "cold_load_seconds", "build_ours_seconds", Target("<=", 0.2),
    ),
    Ratio(
        "arrays_warm_ratio", "all pixels CPU time, arrays config warm / gzip + frombuffer",
        "arrays_warm_seconds", "archive_arrays_seconds", Target("<=", 1.0), cpu=True,
    ),
    Ratio(
        "arrays_cold_ratio", "all pixels CPU time, arrays config fresh cache / gzip + frombuffer",
        "arrays_cold_seconds", "archive_arrays_seconds", Target("<=", 3.0), cpu=True,
    ),
    Ratio(
        "download_ratio_fashion_mnist", "Parquet download, fashion_mnist / the archives",
        "download_bytes_fashion_mnist", "archives_bytes", Target("<", 1.0),
    ),
    Ratio(
        "download_ratio_arrays", "Parquet download, arrays / the archives",
        "download_bytes_arrays", "archives_bytes", Target("<=", 1.0),
    ),
    *(
        Ratio(f"cache_vs_download_{config}", f"Arrow cache / Parquet download, {config}",
              f"cache_bytes_{config}", f"download_bytes_{config}")
        for config in CONFIGS
    ),
    Ratio(
        "fast_path_speedup", "epoch time, plain iteration / fast path",
        "epoch_plain_seconds", "epoch_fast_path_seconds", Target(">=", 10.0),
    ),
    *(
        Ratio(f"{name}_speedup", f"epoch, plain iteration / {what}", "epoch_plain_seconds", f"epoch_{name}_seconds")
        for name, what in (
            ("numpy_batches", "numpy batches"),
            ("fast_path_random_access", "fast path, shuffled indices"),
            ("fast_path_shuffled", "fast path, shuffled in memory"),
            ("numpy_floor", "the floor"),
        )
    ),
)  # fmt: skip
FIGURE_NAMES = {figure.name for figure in FIGURES}

# Phases of a build's CPU time: the functions each phase enters (resolved in the profiling process), whose
# cumulative time the profile sums over calls from outside the phase.
PHASES = {
    "read each archive once": lambda fm, ds: [fm._read_bytes],
    "size + SHA-256 of those bytes": lambda fm, ds: [fm.verify_archive],
    "decompress and parse the IDX": lambda fm, ds: [fm.read_split],
    "encode PNGs": lambda fm, ds: [fm.encode_pngs],
    "datasets: encode_example": lambda fm, ds: [ds.Features.encode_example],
    "datasets: buffer and write Arrow": lambda fm, ds: [
        getattr(ds.arrow_writer.ArrowWriter, name) for name in ("__init__", "write", "finalize", "close")
    ],
}
REST = "the rest: generator, datasets' loop, info, files (by difference)"


# Worker processes: each build, profile and load runs in a fresh interpreter, started by `spawn_worker`.


def baseline_builder_class():
    """The straightforward builder the targets compare against, as the issue describes it."""
    import datasets

    import fashion_mnist as fm

    class PerExampleBaseline(datasets.GeneratorBasedBuilder):
        """Reads each split's IDX archives into numpy and yields one numpy image per example: `datasets`
        encodes each to PNG with Pillow, in one process. Same configs, features and cache settings as
        `FashionMnist`; it skips the SHA-256 checks, which only makes it faster."""

        BUILDER_CONFIG_CLASS = fm.FashionMnist.BUILDER_CONFIG_CLASS
        BUILDER_CONFIGS = fm.FashionMnist.BUILDER_CONFIGS
        DEFAULT_CONFIG_NAME = fm.FashionMnist.DEFAULT_CONFIG_NAME

        def _info(self):
            return fm.FashionMnist._info(self)

        def _split_generators(self, dl_manager):
            return [
                datasets.SplitGenerator(name=split.split, gen_kwargs={"folder": self.config.data_dir, "split": split})
                for split in self.config.splits
            ]

        def _generate_examples(self, folder, split):
            images, labels = archive_arrays(Path(folder), split)
            for index, (image, label) in enumerate(zip(images, labels.tolist(), strict=True)):
                yield index, {"image": image, "label": label}

    return PerExampleBaseline


def archive_arrays(folder: Path, split) -> tuple:
    """A split's images and labels read the way keras and torchvision do: gzip, then `numpy.frombuffer`."""
    import numpy as np

    with gzip.open(folder / split.images.filename) as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / split.labels.filename) as file:
        return images, np.frombuffer(file.read(), np.uint8, offset=8)


def cpu_seconds() -> float:
    """User and system CPU time of this process and of its children that have ended (the build's workers)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def timed(work) -> tuple[dict, object]:
    """({"wall", "cpu"} seconds of `work()`, its result)."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = work()
    return {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}, result


def splits_of(config: str) -> tuple:
    import fashion_mnist as fm

    return fm.SAMPLE_SPLITS if config == "sample" else fm.OFFICIAL_SPLITS


def worker(spec: dict) -> dict:
    """Run one build, profile or load in this (fresh) process; return its measurements."""
    import datasets

    import fashion_mnist as fm

    datasets.disable_progress_bars()
    kind = spec["kind"]
    if kind == "build":
        builder_class = baseline_builder_class() if spec["variant"] == "baseline" else fm.FashionMnist
        builder = builder_class(config_name=spec["config"], data_dir=spec["data_dir"], cache_dir=spec["cache_dir"])
        result, _ = timed(lambda: builder.download_and_prepare(num_proc=spec["num_proc"]))
        result["num_examples"] = {name: split.num_examples for name, split in builder.info.splits.items()}
        own, children = (
            resource.getrusage(who).ru_maxrss * 1024 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        result["largest_process"] = max(own, children)
        return result
    if kind == "profile":
        return profile_build(spec)
    if kind == "arrays":
        return arrays_timings(spec)
    result, loaded = timed(lambda: datasets.load_dataset(spec["folder"], spec["config"], cache_dir=spec["cache_dir"]))
    return {**result, **dataset_sizes(loaded)}


def dataset_sizes(loaded) -> dict:
    """Rows per split and the bytes of the Arrow cache files that `load_dataset` wrote."""
    files = {entry["filename"] for split in loaded.values() for entry in split.cache_files}
    return {
        "num_examples": {name: split.num_rows for name, split in loaded.items()},
        "cache_bytes": sum(os.path.getsize(name) for name in files),
    }


def profile_build(spec: dict) -> dict:
    """CPU seconds of a one-process FashionMnist build by phase (PHASES), from cProfile; and this PNG encoder
    against Pillow's default on the same images."""
    import datasets
    import numpy as np
    from PIL import Image

    import fashion_mnist as fm

    builder = fm.FashionMnist(config_name=spec["config"], data_dir=spec["data_dir"], cache_dir=spec["cache_dir"])
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(builder.download_and_prepare, num_proc=None)
    stats = pstats.Stats(profiler)
    phases = {name: phase_seconds(stats, functions(fm, datasets)) for name, functions in PHASES.items()}
    phases[REST] = stats.total_tt - sum(phases.values())

    images = np.concatenate([archive_arrays(Path(spec["data_dir"]), split)[0] for split in splits_of(spec["config"])])
    ours, pngs = timed(lambda: list(fm.encode_pngs(images)))

    def pillow_pngs():
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            yield buffer.getvalue()

    pillow, pillow_bytes = timed(lambda: [len(png) for png in pillow_pngs()])
    count = len(images)
    return {
        "phases": phases,
        "num_examples": sum(split.num_examples for split in builder.info.splits.values()),
        "png_bytes_ours": sum(map(len, pngs)) / count,
        "png_bytes_pillow": sum(pillow_bytes) / count,
        "encode_us_ours": {key: seconds / count * 1e6 for key, seconds in ours.items()},
        "encode_us_pillow": {key: seconds / count * 1e6 for key, seconds in pillow.items()},
    }


def phase_seconds(stats: pstats.Stats, functions: list) -> float:
    """Cumulative seconds in calls of `functions` made from outside them: nested calls count once."""
    keys = {(f.__code__.co_filename, f.__code__.co_firstlineno, f.__code__.co_name) for f in functions}
    seconds = 0.0
    for key in keys & stats.stats.keys():
        callers = stats.stats[key][4]
        seconds += sum(caller_stats[3] for caller, caller_stats in callers.items() if caller not in keys)
    return seconds


def arrays_timings(spec: dict) -> dict:
    """Median wall and CPU seconds to get every train and test pixel as uint8 arrays: gzip + frombuffer on the
    archives, the arrays config from a fresh cache, and again from the cache it left (warm)."""
    import datasets
    import numpy as np

    def from_archives():
        return [archive_arrays(Path(spec["data_dir"]), split) for split in splits_of(spec["config"])]

    def from_config(cache_dir):
        loaded = datasets.load_dataset(spec["folder"], "arrays", cache_dir=cache_dir)
        return {name: split.with_format("numpy", dtype=np.uint8)[:] for name, split in loaded.items()}, loaded

    runs = {"archive_arrays_seconds": [], "arrays_cold_seconds": [], "arrays_warm_seconds": []}
    for repeat in range(spec["repeats"]):
        cache_dir = os.path.join(spec["cache_dir"], f"arrays-{repeat}")
        runs["archive_arrays_seconds"].append(timed(from_archives)[0])
        cold, (_, loaded) = timed(lambda cache_dir=cache_dir: from_config(cache_dir))
        runs["arrays_cold_seconds"].append(cold)
        runs["arrays_warm_seconds"].append(timed(lambda cache_dir=cache_dir: from_config(cache_dir))[0])
    result = {name: {key: statistics.median(run[key] for run in values) for key in ("wall", "cpu")}
              for name, values in runs.items()}  # fmt: skip
    return {**result, **dataset_sizes(loaded)}


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
                continue  # the build ended
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


def spawn_worker(spec: dict, work: Path) -> dict:
    """Run `worker(spec)` in a fresh interpreter while sampling its process tree's memory."""
    result_path = work / f"worker-{time.monotonic_ns()}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec), "--json", str(result_path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = TreeMemorySampler(process.pid)
    sampler.start()
    output, _ = process.communicate()
    sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"benchmark worker {spec} failed:\n{output.decode(errors='replace')}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return {
        **result,
        "process_seconds": time.perf_counter() - started,
        "peak_tree_pss": sampler.peak_pss,
        "peak_tree_rss": sampler.peak_rss,
        "memory_samples": sampler.samples,
    }


# The benchmark.


class Results:
    """The run's figures: a value for each name of FIGURES, and a CPU time beside each time."""

    def __init__(self):
        self.values, self.cpu = {}, {}

    def set(self, name: str, value, cpu=None):
        if name not in FIGURE_NAMES:
            raise KeyError(f"{name} is not a figure of FIGURES")
        self.values[name], self.cpu[name] = value, cpu

    def set_timing(self, name: str, timing: dict):
        self.set(name, timing["wall"], timing["cpu"])

    def ratio(self, ratio: Ratio) -> float | None:
        source = self.cpu if ratio.cpu else self.values
        numerator, denominator = source.get(ratio.numerator), source.get(ratio.denominator)
        return None if numerator is None or not denominator else numerator / denominator


def machine() -> dict:
    import datasets
    import numpy
    import PIL
    import pyarrow

    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "datasets": datasets.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }


def run_builds(args, work: Path, results: Results) -> tuple[list, list]:
    """Alternate the builds; keep the caches of the first and last FashionMnist build (num_proc as configured)."""
    variants = {"baseline": None, "ours": args.num_proc, "ours_1proc": 1}
    if args.num_proc == 1:
        del variants["ours_1proc"]  # the same build as "ours"
    runs, kept = [], []
    for repeat in range(args.repeats):
        for variant, num_proc in variants.items():
            cache_dir = work / f"cache-{variant}-{repeat}"
            spec = {"kind": "build", "variant": variant, "num_proc": num_proc, "cache_dir": str(cache_dir)}
            result = spawn_worker({**spec, "config": args.config, "data_dir": str(args.data_dir)}, work)
            runs.append({"variant": variant, "repeat": repeat, "num_proc": num_proc, **result})
            log(f"build {variant:<10} #{repeat + 1}: {result['wall']:6.2f} s, CPU {result['cpu']:6.2f} s, "
                f"tree PSS {mib(result['peak_tree_pss'])}")  # fmt: skip
            if variant == "ours" and repeat in (0, args.repeats - 1):
                kept.append(cache_dir)
            else:
                shutil.rmtree(cache_dir, ignore_errors=True)
    for variant in VARIANTS:
        mine = [run for run in runs if run["variant"] == ("ours" if variant not in variants else variant)]
        median = {key: statistics.median(run[key] for run in mine) for key in ("wall", "cpu")}
        results.set_timing(f"build_{variant}_seconds", median)
        results.set(f"build_{variant}_peak_tree_pss", statistics.median(run["peak_tree_pss"] for run in mine))
        results.set(f"build_{variant}_peak_tree_rss", statistics.median(run["peak_tree_rss"] for run in mine))
        results.set(f"build_{variant}_peak_largest_process", statistics.median(run["largest_process"] for run in mine))
    return runs, kept


def export(args, cache_dir: Path, out: Path) -> float:
    """Seconds that tools.export.write_folder takes to export the FashionMnist build prepared in `cache_dir`."""
    import fashion_mnist as fm
    from tools.export import write_folder

    builder = fm.FashionMnist(config_name=args.config, data_dir=str(args.data_dir), cache_dir=str(cache_dir))
    builder.download_and_prepare()  # finds the prepared build and reuses it
    started = time.perf_counter()
    write_folder(builder, out)
    return time.perf_counter() - started


def timed_pass(batches) -> dict:
    """Wall and CPU seconds to go through `batches` (pairs of pixel arrays and labels), summing their pixels."""
    import numpy as np

    def go():
        for images, _labels in batches:
            np.asarray(images).sum()

    return timed(go)[0]


def epoch_passes(train, archive_images, results: Results) -> None:
    """One pass over the train split in each way, and the fast path's one-time costs."""
    import numpy as np

    from tools.fast_path import as_arrays

    results.set("train_examples", train.num_rows)
    results.set_timing("epoch_plain_seconds", timed_pass((row["image"], row["label"]) for row in train))
    batches = train.with_format("numpy").iter(batch_size=BATCH_SIZE)
    results.set_timing("epoch_numpy_batches_seconds", timed_pass((b["image"], b["label"]) for b in batches))

    decode, arrays = timed(lambda: as_arrays(train))
    results.set_timing("fast_path_decode_seconds", decode)
    results.set_timing("fast_path_cached_seconds", timed(lambda: as_arrays(train))[0])
    slices = (arrays[i : i + BATCH_SIZE] for i in range(0, len(arrays), BATCH_SIZE))
    results.set_timing("epoch_fast_path_seconds", timed_pass((batch["image"], batch["label"]) for batch in slices))

    # Random access into the cached column is slow: timed on a tenth of an epoch, scaled to a whole one.
    order = np.random.default_rng(0).permutation(len(arrays))
    part = order[: max(BATCH_SIZE, len(order) // 10)]
    random_batches = (arrays[part[i : i + BATCH_SIZE]] for i in range(0, len(part), BATCH_SIZE))
    seconds = timed_pass((batch["image"], batch["label"]) for batch in random_batches)
    scaled = {key: value * len(order) / len(part) for key, value in seconds.items()}
    results.set_timing("epoch_fast_path_random_access_seconds", scaled)

    to_memory, in_memory = timed(lambda: arrays[:])
    results.set_timing("fast_path_to_memory_seconds", to_memory)
    images, labels = in_memory["image"], in_memory["label"]
    shuffled = ((images[order[i : i + BATCH_SIZE]], labels[order[i : i + BATCH_SIZE]])
                for i in range(0, len(order), BATCH_SIZE))  # fmt: skip
    results.set_timing("epoch_fast_path_shuffled_seconds", timed_pass(shuffled))
    floor = ((archive_images[i : i + BATCH_SIZE], None) for i in range(0, len(archive_images), BATCH_SIZE))
    results.set_timing("epoch_numpy_floor_seconds", timed_pass(floor))


def run(args) -> dict:
    import datasets

    datasets.disable_progress_bars()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fashion-mnist-bench-", dir=args.work_dir))
    report = {"machine": machine(), "settings": settings(args), "load_average_before": os.getloadavg()}
    results = Results()
    source = {"config": args.config, "data_dir": str(args.data_dir)}
    try:
        report["builds"], kept = run_builds(args, work, results)
        profile = spawn_worker({"kind": "profile", "cache_dir": str(work / "cache-profile"), **source}, work)
        report["cpu_profile"] = {key: profile[key] for key in ("phases", "num_examples")}
        for name in ("png_bytes_ours", "png_bytes_pillow"):
            results.set(name, profile[name])
        for name in ("encode_us_ours", "encode_us_pillow"):
            results.set_timing(name, profile[name])

        folder = work / "hub"
        results.set("export_seconds", export(args, kept[-1], folder))
        log(f"export: {results.values['export_seconds']:.2f} s")
        folder = args.folder or folder
        load_cache = work / "cache-load"
        spec = {"kind": "load", "folder": str(folder), "config": CONFIGS[0], "cache_dir": str(load_cache)}
        load = spawn_worker(spec, work)
        report["cold_load"] = load
        results.set_timing("cold_load_seconds", load)
        results.set("cold_load_process_seconds", load["process_seconds"])
        results.set("cache_bytes_fashion_mnist", load["cache_bytes"])
        log(f"cold load_dataset(folder): {load['wall']:.2f} s ({load['process_seconds']:.2f} s with the process)")

        results.set("archives_bytes", sum(a.num_bytes for s in splits_of(args.config) for a in (s.images, s.labels)))
        for config in CONFIGS:
            parquet = list((folder / config).glob("*.parquet"))
            if parquet:
                results.set(f"download_bytes_{config}", sum(path.stat().st_size for path in parquet))
        report["configs"] = [config for config in CONFIGS if (folder / config).is_dir()]
        if "arrays" in report["configs"]:
            spec = {"kind": "arrays", "folder": str(folder), "cache_dir": str(work / "cache-arrays"), **source}
            arrays = spawn_worker({**spec, "repeats": args.repeats}, work)
            for name in ("archive_arrays_seconds", "arrays_cold_seconds", "arrays_warm_seconds"):
                results.set_timing(name, arrays[name])
            results.set("cache_bytes_arrays", arrays["cache_bytes"])
            report["arrays_num_examples"] = arrays["num_examples"]
        else:
            log(f"note: {folder} has no arrays config: its figures are not measured")

        train = datasets.load_dataset(str(folder), CONFIGS[0], split="train", cache_dir=str(load_cache))
        train_archives = next(split for split in splits_of(args.config) if split.split == "train")
        epoch_passes(train, archive_arrays(args.data_dir, train_archives)[0], results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["figures"] = [
        {**dataclasses.asdict(f), "value": results.values.get(f.name), "cpu": results.cpu.get(f.name)} for f in FIGURES
    ]
    report["ratios"] = []
    for ratio in RATIOS:
        value = results.ratio(ratio)
        holds = None if ratio.target is None or value is None else ratio.target.holds(value)
        label = ratio.label.format(num_proc=args.num_proc)
        report["ratios"].append({**dataclasses.asdict(ratio), "label": label, "value": value, "holds": holds})
    report["load_average_after"] = os.getloadavg()
    return report


def settings(args) -> dict:
    return {
        "command": " ".join(["benchmarks/bench.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data_dir": str(args.data_dir),
        "folder": str(args.folder) if args.folder else None,
        "config": args.config,
        "repeats": args.repeats,
        "num_proc": args.num_proc,
        "batch_size": BATCH_SIZE,
        "memory_sample_interval": SAMPLE_INTERVAL,
    }


# Output.


def mib(num_bytes: float) -> str:
    return f"{num_bytes / 2**20:.0f} MiB"


def show(value, unit: str) -> str:
    if value is None:
        return "not measured"
    return {
        "s": lambda: f"{value:.3f} s",
        "MiB": lambda: mib(value),
        "bytes": lambda: f"{value:,} bytes",
        "B/image": lambda: f"{value:.1f} B",
        "us/image": lambda: f"{value:.1f} us",
        "rows": lambda: f"{value:,}",
    }[unit]()


def columns(rows: list) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def table(report: dict) -> str:
    num_proc = report["settings"]["num_proc"]
    figures = {figure["name"]: figure for figure in report["figures"]}
    builds = [("build", "median", "CPU", "tree PSS", "tree RSS", "largest", "every run (s)")]
    for variant, label in VARIANTS.items():
        runs = [run for run in report["builds"] if run["variant"] == variant]
        key = f"build_{variant}_"
        builds.append((
            label.format(num_proc=num_proc),
            show(figures[key + "seconds"]["value"], "s"),
            show(figures[key + "seconds"]["cpu"], "s"),
            *(show(figures[key + measure]["value"], "MiB") for measure in list(BUILD_MEASURES)[1:]),
            ", ".join(f"{run['wall']:.2f}" for run in runs) or "as above",
        ))  # fmt: skip

    profile = report["cpu_profile"]
    total, examples = sum(profile["phases"].values()), profile["num_examples"]
    lines = [*columns(builds), "", f"Where a one-process FashionMnist build's CPU time goes (cProfile, {total:.2f} s):"]
    lines += columns([
        (f"  {phase}", f"{seconds:.2f} s", f"{seconds / total:.1%}", f"{seconds / examples * 1e6:.1f} us/example")
        for phase, seconds in profile["phases"].items()
    ])  # fmt: skip

    rows = [("figure", "value", "CPU")]
    for f in report["figures"]:
        if not f["name"].startswith("build_"):
            cpu = "" if f["cpu"] is None else show(f["cpu"], f["unit"])
            rows.append((f["label"], show(f["value"], f["unit"]), cpu))
    lines += ["", *columns(rows), "", "Ratios (from this run; with a target, whether it holds):"]
    targets = []
    for ratio in report["ratios"]:
        value = "not measured" if ratio["value"] is None else f"{ratio['value']:.3f}"
        target = ratio["target"]
        verdict = "" if target is None else f"{target['op']} {target['bound']:g}  "
        verdict += {True: "holds", False: "FAILS", None: ""}[ratio["holds"]]
        targets.append((f"  {ratio['label']}{' (CPU)' if ratio['cpu'] else ''}", value, verdict))
    lines += columns(targets)
    before, after = report["load_average_before"], report["load_average_after"]
    lines.append(f"Load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}; {os.cpu_count()} CPUs")
    lines.append(f"{report['settings']['date']}: {report['settings']['command']}")
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the four official archives")
    source.add_argument("--sample", action="store_true", help="use the bundled sample archives (dummy/)")
    parser.add_argument("--repeats", type=int, default=3, help="builds of each kind, alternated (default 3)")
    parser.add_argument("--num-proc", type=int, default=os.cpu_count(), help="processes of the FashionMnist build")
    parser.add_argument("--folder", type=Path, help="time loading this export folder instead of the run's own export")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()), help="scratch space")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.folder and not (args.folder / "README.md").is_file():
        parser.error(f"--folder {args.folder} is not an export folder: it has no README.md")
    args.config = "sample" if args.sample else "fashion_mnist"
    if args.sample:
        args.data_dir = REPO / "dummy"
    args.data_dir = args.data_dir.resolve()
    args.folder = args.folder.resolve() if args.folder else None
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        args.json.write_text(json.dumps(worker(json.loads(args.worker))))
        return 0
    report = run(args)
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
