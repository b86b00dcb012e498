"""Benchmark: build Fashion-MNIST, export it, load it, and read one epoch of it, measured side by side.

    .venv/bin/python benchmarks/bench.py                          # the official archives in ../shared/fashion-mnist
    .venv/bin/python benchmarks/bench.py --data-dir DIR --repeats 5 --json results.json
    .venv/bin/python benchmarks/bench.py --sample --repeats 1     # the bundled sample archives: a quick smoke run

In one run:
1. builds the dataset with a per-example baseline (the IDX read into numpy, one numpy image per example,
   `datasets` encoding each to PNG with Pillow, one process) and with `FashionMnist` (num_proc = CPU count),
   alternately, --repeats times, each build in a fresh process with a fresh cache; reports the median wall time
   of `download_and_prepare`, its CPU time (the process and its workers: on a busy machine it shows the work
   that wall time hides) and the builds' peak memory; with num_proc > 1, FashionMnist in one process too;
2. exports the last build with tools.export.write_folder, checks that two builds export byte-identical
   Parquet, and times a cold `load_dataset(folder)` (fresh process, fresh cache);
3. times one pass over the train split of the loaded folder: plain iteration (PIL images), `with_format("numpy")`
   batches of 256, the card's fast path (tools/fast_path.py), and 256-row slices of a numpy array read from the
   archives (the floor); every pass sums the pixels, and the sums must agree;
4. prints every figure with the targets and writes them as JSON (default build/bench/results.json).

Peak memory of a build, measured two ways:
- largest process: `ru_maxrss` of the build process and of its largest child (the `num_proc` workers),
  exact, from the kernel, but blind to the fact that several processes hold memory at the same time;
- process tree: the build process and all its descendants sampled every 20 ms, the peak of their summed
  PSS (proportional set size: a page shared by k processes, such as what a worker inherits from its parent
  by fork, counts 1/k in each) and of their summed RSS (which counts shared pages once per process, an upper
  bound). The memory target is judged on the peak summed PSS: it is what the whole build takes from the
  machine, measured the same way for one process and for several.
"""

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_DATA_DIR = REPO.parent / "shared" / "fashion-mnist"
DEFAULT_JSON = REPO / "build" / "bench" / "results.json"
BATCH_SIZE = 256
SAMPLE_INTERVAL = 0.02  # seconds between two samples of a build's process tree

# name: (figure, comparison, bound). Every ratio is measured within one run of this script.
TARGETS = {
    "build_speedup": ("baseline build time / FashionMnist (num_proc={num_proc}) build time", ">=", 3.0),
    "build_cpu_speedup_1proc": ("baseline build CPU time / FashionMnist (num_proc=1) build CPU time", ">=", 2.0),
    "build_memory_ratio": ("FashionMnist (num_proc={num_proc}) peak tree PSS / baseline peak tree PSS", "<=", 1.0),
    "fast_path_speedup": ("plain iteration epoch / fast path epoch", ">=", 10.0),
    "cold_load_fraction": ("cold load_dataset(folder) / FashionMnist (num_proc={num_proc}) build time", "<=", 0.2),
}


# Worker processes: each build and the cold load run in a fresh interpreter, started by `spawn_worker`.


def baseline_builder_class():
    """The straightforward builder the targets compare against, as the issue describes it."""
    import gzip

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
                datasets.SplitGenerator(
                    name=split.split,
                    gen_kwargs={
                        "images_path": os.path.join(self.config.data_dir, split.images.filename),
                        "labels_path": os.path.join(self.config.data_dir, split.labels.filename),
                    },
                )
                for split in self.config.splits
            ]

        def _generate_examples(self, images_path, labels_path):
            with gzip.open(images_path, "rb") as file:
                images = fm.read_images(file.read(), images_path)
            with gzip.open(labels_path, "rb") as file:
                labels = fm.read_labels(file.read(), labels_path)
            for index, (image, label) in enumerate(zip(images, labels.tolist(), strict=True)):
                yield index, {"image": image, "label": label}

    return PerExampleBaseline


def worker(spec: dict) -> dict:
    """Run one build or one load in this (fresh) process; return its timings and `ru_maxrss`."""
    started = time.perf_counter()
    import datasets

    import fashion_mnist as fm

    datasets.disable_progress_bars()
    result = {"import_seconds": time.perf_counter() - started}
    if spec["kind"] == "build":
        builder_class = baseline_builder_class() if spec["variant"] == "baseline" else fm.FashionMnist
        builder = builder_class(config_name=spec["config"], data_dir=spec["data_dir"], cache_dir=spec["cache_dir"])
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        builder.download_and_prepare(num_proc=spec["num_proc"])
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = cpu_seconds() - cpu_before
        result["num_examples"] = {name: split.num_examples for name, split in builder.info.splits.items()}
    elif spec["kind"] == "breakdown":
        result.update(cpu_breakdown(spec))
    else:
        started = time.perf_counter()
        loaded = datasets.load_dataset(spec["folder"], cache_dir=spec["cache_dir"])
        result["seconds"] = time.perf_counter() - started
        result["num_examples"] = {name: split.num_rows for name, split in loaded.items()}
    result["maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["maxrss_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return result


def cpu_breakdown(spec: dict) -> dict:
    """CPU seconds of each stage of a FashionMnist build, each timed alone in this process, and the PNG size
    of this encoder against Pillow's default encoding of the same images."""
    import io

    from datasets.arrow_writer import ArrowWriter
    from PIL import Image

    import fashion_mnist as fm

    splits = fm.SAMPLE_SPLITS if spec["config"] == "sample" else fm.OFFICIAL_SPLITS
    folder = Path(spec["data_dir"])
    stages = dict.fromkeys(("read", "verify", "decompress", "encode", "datasets"), 0.0)
    sizes, num_examples, pillow_seconds, pillow_bytes = [], 0, 0.0, 0
    features = fm.FashionMnist(config_name=spec["config"], data_dir=spec["data_dir"]).info.features
    for split in splits:
        # What the builder does with each split before writing anything: read each archive once, verify those
        # bytes, parse them, and cut the split into the blocks that _generate_examples encodes.
        started = time.process_time()
        images_gz = fm._read_bytes(str(folder / split.images.filename))
        labels_gz = fm._read_bytes(str(folder / split.labels.filename))
        stages["read"] += time.process_time() - started
        started = time.process_time()
        fm.verify_archive(images_gz, split.images, split.images.filename)
        fm.verify_archive(labels_gz, split.labels, split.labels.filename)
        stages["verify"] += time.process_time() - started
        started = time.process_time()
        images, labels = fm.read_split(images_gz, labels_gz, split)
        blocks = [images[start:stop] for start, stop in fm._shard_ranges(split.num_examples)]
        labels = labels.tolist()
        stages["decompress"] += time.process_time() - started
        started = time.process_time()
        pngs = [png for block in blocks for png in fm.encode_pngs(block)]
        stages["encode"] += time.process_time() - started
        # What datasets does with each yielded example: encode it, buffer it, write Arrow batches.
        with tempfile.TemporaryDirectory() as scratch:
            writer = ArrowWriter(features=features, path=os.path.join(scratch, "split.arrow"))
            started = time.process_time()
            for png, label in zip(pngs, labels, strict=True):
                writer.write(features.encode_example({"image": {"bytes": png, "path": None}, "label": label}))
            writer.finalize()
            stages["datasets"] += time.process_time() - started
            writer.close()
        sizes += [len(png) for png in pngs]
        num_examples += split.num_examples
        started = time.process_time()
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            pillow_bytes += buffer.tell()
        pillow_seconds += time.process_time() - started
    return {
        "stages": stages,
        "num_examples": num_examples,
        "png_bytes_ours": sum(sizes) / num_examples,
        "png_bytes_pillow": pillow_bytes / num_examples,
        "encode_us_ours": stages["encode"] / num_examples * 1e6,
        "encode_us_pillow": pillow_seconds / num_examples * 1e6,
    }


def cpu_seconds() -> float:
    """User and system CPU time of this process and of its children that have ended (the build's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class TreeMemorySampler(threading.Thread):
    """Peak summed RSS and PSS of a process and all its descendants, read from /proc every `interval`."""

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()

    def sample(self):
        rss = pss = 0
        for pid in self._tree(self.pid):
            try:
                with open(f"/proc/{pid}/smaps_rollup") as file:
                    fields = dict(line.split(":", 1) for line in file if ":" in line and not line[0].isdigit())
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue  # the process ended between listing and reading
            rss += int(fields.get("Rss", "0 kB").split()[0]) * 1024
            pss += int(fields.get("Pss", "0 kB").split()[0]) * 1024
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.samples += 1

    @staticmethod
    def _tree(root: int) -> list:
        pids, pending = [], [root]
        while pending:
            pid = pending.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as file:
                        pending += [int(child) for child in file.read().split()]
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
        return pids


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
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"benchmark worker {spec} failed:\n{output.decode(errors='replace')}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    result.update(
        process_seconds=wall,
        peak_tree_rss=sampler.peak_rss,
        peak_tree_pss=sampler.peak_pss,
        memory_samples=sampler.samples,
        peak_largest_process=max(result["maxrss_self"], result["maxrss_children"]),
    )
    return result


# The benchmark.


def machine() -> dict:
    import datasets
    import numpy
    import PIL
    import pyarrow

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "memory_bytes": int(meminfo["MemTotal"].split()[0]) * 1024,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "datasets": datasets.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }


def build_variants(args) -> list:
    """(name, num_proc) of each build: the baseline, FashionMnist as configured, and FashionMnist in one process."""
    variants = [("baseline", None), ("ours", args.num_proc)]
    if args.num_proc > 1:
        variants.append(("ours_1proc", 1))
    return variants


def run_builds(args, work: Path) -> tuple[list, list]:
    """Alternate the builds; keep the caches of the first and last FashionMnist build (num_proc as configured)."""
    runs, kept = [], []
    for repeat in range(args.repeats):
        for variant, num_proc in build_variants(args):
            cache_dir = work / f"cache-{variant}-{repeat}"
            spec = {
                "kind": "build",
                "variant": variant,
                "config": args.config,
                "data_dir": str(args.data_dir),
                "cache_dir": str(cache_dir),
                "num_proc": num_proc,
            }
            result = spawn_worker(spec, work)
            runs.append({"variant": variant, "repeat": repeat, "num_proc": num_proc, **result})
            log(
                f"build {variant:<10} #{repeat + 1}: {result['seconds']:6.2f} s, "
                f"tree PSS {mb(result['peak_tree_pss'])}, largest process {mb(result['peak_largest_process'])}"
            )
            if variant == "ours" and repeat in (0, args.repeats - 1):
                kept.append(cache_dir)
            else:
                shutil.rmtree(cache_dir, ignore_errors=True)
    return runs, kept


def prepared_builder(args, cache_dir: Path):
    """The FashionMnist build already prepared in `cache_dir` (download_and_prepare finds and reuses it)."""
    import fashion_mnist as fm

    builder = fm.FashionMnist(config_name=args.config, data_dir=str(args.data_dir), cache_dir=str(cache_dir))
    builder.download_and_prepare()
    return builder


def export(builder, out: Path) -> float:
    """Time tools.export.write_folder; with no README.md at the repository root, use a placeholder card."""
    from tools import export as exporter

    card = exporter.CARD
    if not card.exists():
        placeholder = out.parent / "placeholder-card" / "README.md"
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_text("---\nlicense: mit\n---\n# Fashion-MNIST\n", "utf-8")
        exporter.CARD = placeholder
        log(f"note: {card} is missing: the export uses a placeholder card")
    try:
        started = time.perf_counter()
        exporter.write_folder(builder, out)
        return time.perf_counter() - started
    finally:
        exporter.CARD = card


def parquet_digests(folder: Path) -> dict:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.parquet"))
    }


def read_archives(args) -> dict:
    """{split: (images, labels)} read straight from the archives, as numpy arrays."""
    import fashion_mnist as fm

    splits = fm.SAMPLE_SPLITS if args.config == "sample" else fm.OFFICIAL_SPLITS
    arrays = {}
    for split in splits:
        images_gz = (args.data_dir / split.images.filename).read_bytes()
        labels_gz = (args.data_dir / split.labels.filename).read_bytes()
        arrays[split.split] = fm.read_split(images_gz, labels_gz, split)
    return arrays


def timed_pass(batches) -> tuple[float, int]:
    """Seconds to go through `batches` (pairs of pixel arrays and labels), and the sum of their pixels."""
    import numpy as np

    total = 0
    started = time.perf_counter()
    for images, _labels in batches:
        total += int(np.asarray(images).sum())
    return time.perf_counter() - started, total


def epoch_passes(train, archive_images, archive_labels) -> dict:
    """One pass over the train split in each of the four ways, timed, and the fast path's one-time costs."""
    import numpy as np

    from tools.fast_path import as_arrays

    figures = {}
    figures["epoch_plain_seconds"], plain_sum = timed_pass((example["image"], example["label"]) for example in train)
    numpy_batches = train.with_format("numpy").iter(batch_size=BATCH_SIZE)
    figures["epoch_numpy_batches_seconds"], numpy_sum = timed_pass((b["image"], b["label"]) for b in numpy_batches)

    started = time.perf_counter()
    arrays = as_arrays(train)
    figures["fast_path_decode_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    as_arrays(train)
    figures["fast_path_cached_seconds"] = time.perf_counter() - started

    def slices():
        for start in range(0, len(arrays), BATCH_SIZE):
            batch = arrays[start : start + BATCH_SIZE]
            yield batch["image"], batch["label"]

    figures["epoch_fast_path_seconds"], fast_sum = timed_pass(slices())

    # Shuffled epochs: random access into the cached column is slow, so the card reads it into memory once.
    started = time.perf_counter()
    in_memory = arrays[:]
    figures["fast_path_to_memory_seconds"] = time.perf_counter() - started
    images, labels = in_memory["image"], in_memory["label"]
    order = np.random.default_rng(0).permutation(len(images))
    shuffled = (
        (images[order[i : i + BATCH_SIZE]], labels[order[i : i + BATCH_SIZE]])
        for i in range(0, len(images), BATCH_SIZE)
    )
    figures["epoch_fast_path_shuffled_seconds"], shuffled_sum = timed_pass(shuffled)

    # Shuffled batches taken straight from the cached column: random access, which the card advises
    # against. Timed on a tenth of the epoch and scaled to a whole one.
    part = order[: max(BATCH_SIZE, len(order) // 10)]
    random_batches = (arrays[part[i : i + BATCH_SIZE]] for i in range(0, len(part), BATCH_SIZE))
    seconds, _ = timed_pass((batch["image"], batch["label"]) for batch in random_batches)
    figures["epoch_fast_path_random_access_seconds"] = seconds * len(order) / len(part)

    floor = (
        (archive_images[i : i + BATCH_SIZE], archive_labels[i : i + BATCH_SIZE])
        for i in range(0, len(archive_images), BATCH_SIZE)
    )
    figures["epoch_numpy_floor_seconds"], floor_sum = timed_pass(floor)

    sums = {plain_sum, numpy_sum, fast_sum, shuffled_sum, floor_sum}
    figures["passes_agree"] = len(sums) == 1
    figures["fast_path_exact"] = bool(
        np.array_equal(images, archive_images) and np.array_equal(labels, archive_labels)
    ) and (images.dtype, images.shape[1:]) == (np.uint8, (28, 28))
    return figures


def test_split_exact(test, archive_images, archive_labels) -> bool:
    """Whether the exported test split decodes to exactly the archive's pixels and labels."""
    import numpy as np

    decoded = np.array([np.asarray(example["image"]) for example in test], dtype=np.uint8)
    return bool(np.array_equal(decoded, archive_images) and np.array_equal(test["label"], archive_labels))


def run(args) -> dict:
    import datasets

    datasets.disable_progress_bars()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fashion-mnist-bench-", dir=args.work_dir))
    report = {"machine": machine(), "settings": settings(args), "load_average_before": os.getloadavg()}
    try:
        runs, kept = run_builds(args, work)
        report["builds"] = runs
        figures = build_figures(runs)
        breakdown = spawn_worker({"kind": "breakdown", "config": args.config, "data_dir": str(args.data_dir)}, work)
        report["cpu_breakdown"] = {key: breakdown[key] for key in ("stages", "num_examples")}
        for key in ("png_bytes_ours", "png_bytes_pillow", "encode_us_ours", "encode_us_pillow"):
            figures[key] = breakdown[key]
        log(f"CPU breakdown: {', '.join(f'{k} {v:.2f} s' for k, v in breakdown['stages'].items())}")

        builder = prepared_builder(args, kept[-1])
        folder = work / "hub"
        figures["export_seconds"] = export(builder, folder)
        if len(kept) > 1:
            other = work / "hub-first-build"
            export(prepared_builder(args, kept[0]), other)
            figures["export_reproducible"] = parquet_digests(folder) == parquet_digests(other)
        else:
            figures["export_reproducible"] = None  # needs two builds: --repeats 2 or more
        log(f"export: {figures['export_seconds']:.2f} s; reproducible: {figures['export_reproducible']}")

        load_cache = work / "cache-load"
        load = spawn_worker({"kind": "load", "folder": str(folder), "cache_dir": str(load_cache)}, work)
        report["cold_load"] = load
        figures["cold_load_seconds"] = load["seconds"]
        figures["cold_load_process_seconds"] = load["process_seconds"]
        log(f"cold load_dataset(folder): {load['seconds']:.2f} s ({load['process_seconds']:.2f} s with the process)")

        loaded = datasets.load_dataset(str(folder), cache_dir=str(load_cache))  # the cold load's cache, reused
        archives = read_archives(args)
        figures.update(epoch_passes(loaded["train"], *archives["train"]))
        figures["test_split_exact"] = test_split_exact(loaded["test"], *archives["test"])
        figures["train_examples"] = loaded["train"].num_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures.update(ratios(figures))
    report["figures"] = figures
    report["targets"] = {
        name: {
            "figure": figure.format(num_proc=args.num_proc),
            "comparison": op,
            "bound": bound,
            "value": figures[name],
            "holds": holds(name, figures),
        }
        for name, (figure, op, bound) in TARGETS.items()
    }
    report["load_average_after"] = os.getloadavg()
    return report


def build_figures(runs: list) -> dict:
    figures = {}
    for variant in sorted({run["variant"] for run in runs}):
        mine = [run for run in runs if run["variant"] == variant]
        for key in ("seconds", "cpu_seconds", "peak_tree_pss", "peak_tree_rss", "peak_largest_process", "maxrss_self"):
            figures[f"build_{variant}_{key}"] = statistics.median(run[key] for run in mine)
        figures[f"build_{variant}_seconds_all"] = [round(run["seconds"], 3) for run in mine]
    return figures


def ratios(figures: dict) -> dict:
    baseline = "build_baseline_"
    plain = figures["epoch_plain_seconds"]
    found = {
        "cold_load_fraction": figures["cold_load_seconds"] / figures["build_ours_seconds"],
        "fast_path_speedup": plain / figures["epoch_fast_path_seconds"],
        "fast_path_shuffled_speedup": plain / figures["epoch_fast_path_shuffled_seconds"],
        "numpy_batches_speedup": plain / figures["epoch_numpy_batches_seconds"],
        "floor_speedup": plain / figures["epoch_numpy_floor_seconds"],
    }
    one_process = "build_ours_1proc_" if "build_ours_1proc_cpu_seconds" in figures else "build_ours_"
    found["build_cpu_speedup_1proc"] = figures[baseline + "cpu_seconds"] / figures[one_process + "cpu_seconds"]
    found["png_size_vs_pillow"] = figures["png_bytes_ours"] / figures["png_bytes_pillow"]
    for variant, suffix in (("ours", ""), ("ours_1proc", "_1proc")):
        ours = f"build_{variant}_"
        if ours + "seconds" not in figures:
            continue
        found["build_speedup" + suffix] = figures[baseline + "seconds"] / figures[ours + "seconds"]
        for measure, name in (
            ("peak_tree_pss", ""),
            ("peak_tree_rss", "_tree_rss"),
            ("peak_largest_process", "_largest_process"),
        ):
            found[f"build_memory_ratio{name}{suffix}"] = figures[ours + measure] / figures[baseline + measure]
    return found


def holds(name: str, figures: dict) -> bool:
    _, op, bound = TARGETS[name]
    value = figures[name]
    return value >= bound if op == ">=" else value <= bound


def settings(args) -> dict:
    return {
        "data_dir": str(args.data_dir),
        "config": args.config,
        "repeats": args.repeats,
        "num_proc": args.num_proc,
        "batch_size": BATCH_SIZE,
        "memory_sample_interval": SAMPLE_INTERVAL,
    }


# Output.


def mb(num_bytes: float) -> str:
    return f"{num_bytes / 2**20:.0f} MiB"


VARIANT_NAMES = {
    "baseline": "per-example baseline, 1 process",
    "ours": "FashionMnist, num_proc={num_proc}",
    "ours_1proc": "FashionMnist, num_proc=1",
}


def build_table(report: dict) -> list:
    f, num_proc = report["figures"], report["settings"]["num_proc"]
    header = (
        "build",
        "median",
        "speed",
        "CPU",
        "tree PSS",
        "ratio",
        "tree RSS",
        "ratio",
        "largest",
        "ratio",
        "every run (s)",
    )
    rows = [header]
    for variant in [v for v in VARIANT_NAMES if f"build_{v}_seconds" in f]:
        key = f"build_{variant}_"
        suffix = {"baseline": None, "ours": "", "ours_1proc": "_1proc"}[variant]

        def ratio(name, suffix=suffix):
            return "1.00x" if suffix is None else f"{f[name + suffix]:.2f}x"

        rows.append(
            (
                VARIANT_NAMES[variant].format(num_proc=num_proc),
                f"{f[key + 'seconds']:.2f} s",
                ratio("build_speedup"),
                f"{f[key + 'cpu_seconds']:.1f} s",
                mb(f[key + "peak_tree_pss"]),
                ratio("build_memory_ratio"),
                mb(f[key + "peak_tree_rss"]),
                ratio("build_memory_ratio_tree_rss"),
                mb(f[key + "peak_largest_process"]),
                ratio("build_memory_ratio_largest_process"),
                ", ".join(f"{seconds:.2f}" for seconds in f[key + "seconds_all"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def breakdown_table(report: dict) -> list:
    """Where a one-process build's CPU time goes, stage by stage, against the measured total."""
    f, breakdown = report["figures"], report["cpu_breakdown"]
    total = f.get("build_ours_1proc_cpu_seconds", f["build_ours_cpu_seconds"])
    per_example = 1e6 / breakdown["num_examples"]
    names = {
        "read": "read each archive once",
        "verify": "size + SHA-256 of those bytes",
        "decompress": "decompress and parse the IDX",
        "encode": "encode PNGs",
        "datasets": "datasets: encode_example, buffer, write Arrow",
    }
    stages = breakdown["stages"]
    rest = total - sum(stages.values())
    lines = [f"Where the CPU time of FashionMnist (num_proc=1) goes, {total:.2f} s in all:"]
    for key, seconds in [*stages.items(), ("rest", rest)]:
        name = names.get(key, "the rest: generator, builder, info, files (by difference)")
        lines.append(f"  {name:<58} {seconds:6.2f} s {seconds / total:6.1%} {seconds * per_example:6.1f} us/example")
    lines.append(
        f"PNG bytes per image: this encoder {f['png_bytes_ours']:.1f} ({f['encode_us_ours']:.1f} us), Pillow's default "
        f"{f['png_bytes_pillow']:.1f} ({f['encode_us_pillow']:.1f} us): {f['png_size_vs_pillow']:.3f}x"
    )
    return lines


def table(report: dict) -> str:
    f = report["figures"]
    plain = f["epoch_plain_seconds"]
    rows = [
        ("Export to the Hub folder (write_folder)", f"{f['export_seconds']:.2f} s", ""),
        ("Export byte-identical from two builds", str(f["export_reproducible"]), ""),
        ("Cold load_dataset(folder)", f"{f['cold_load_seconds']:.2f} s", f"{f['cold_load_fraction']:.2f}x the build"),
        ("  with process start and imports", f"{f['cold_load_process_seconds']:.2f} s", ""),
        (f"One pass over {f['train_examples']:,} train examples:", "", "speed vs plain"),
        ("  plain iteration (PIL images)", f"{plain:.2f} s", "1.00x"),
        (
            f"  with_format('numpy'), batches of {BATCH_SIZE}",
            f"{f['epoch_numpy_batches_seconds']:.2f} s",
            f"{f['numpy_batches_speedup']:.2f}x",
        ),
        (
            "  fast path, slices of the cached column",
            f"{f['epoch_fast_path_seconds']:.3f} s",
            f"{f['fast_path_speedup']:.1f}x",
        ),
        (
            "  fast path, shuffled indices into the column*",
            f"{f['epoch_fast_path_random_access_seconds']:.2f} s",
            f"{plain / f['epoch_fast_path_random_access_seconds']:.2f}x",
        ),
        (
            "  fast path, shuffled, column in memory",
            f"{f['epoch_fast_path_shuffled_seconds']:.3f} s",
            f"{f['fast_path_shuffled_speedup']:.0f}x",
        ),
        (
            "  numpy array from the archives (floor)",
            f"{f['epoch_numpy_floor_seconds']:.3f} s",
            f"{f['floor_speedup']:.0f}x",
        ),
        ("Fast path, one-time decode (map, cold)", f"{f['fast_path_decode_seconds']:.2f} s", ""),
        ("Fast path, from the cache (next runs)", f"{f['fast_path_cached_seconds']:.3f} s", ""),
        ("Fast path, column into memory", f"{f['fast_path_to_memory_seconds']:.2f} s", ""),
        ("  * timed on a tenth of the epoch, scaled", "", ""),
        ("Passes agree / fast path exact / test split exact", "", ""),
        ("", f"{f['passes_agree']} / {f['fast_path_exact']} / {f['test_split_exact']}", ""),
    ]
    width = max(len(row[0]) for row in rows)
    lines = [*build_table(report), "", *breakdown_table(report), ""]
    lines += [f"{name:<{width}}  {value:>18}  {ratio}".rstrip() for name, value, ratio in rows]
    lines += ["", "Targets (ratios from this run):"]
    for target in report["targets"].values():
        verdict = "holds" if target["holds"] else "FAILS"
        lines.append(f"  {target['figure']}: {target['value']:.3f} {target['comparison']} {target['bound']}  {verdict}")
    if "build_speedup_1proc" in f:
        speed, memory = f["build_speedup_1proc"], f["build_memory_ratio_1proc"]
        verdict = (
            "hold" if speed >= TARGETS["build_speedup"][2] and memory <= TARGETS["build_memory_ratio"][2] else "FAIL"
        )
        lines.append(
            f"  (FashionMnist, num_proc=1: {speed:.2f}x faster, tree PSS {memory:.2f}x: both build targets {verdict})"
        )
    before, after = report["load_average_before"], report["load_average_after"]
    lines.append(f"Load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}; {os.cpu_count()} CPUs")
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
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()), help="scratch space")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.config = "sample" if args.sample else "fashion_mnist"
    if args.sample:
        args.data_dir = REPO / "dummy"
    args.data_dir = args.data_dir.resolve()
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
