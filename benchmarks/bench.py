"""Benchmark: build Fashion-MNIST, export it, load it and read it, measured side by side in one run.

    .venv/bin/python -m benchmarks.bench                         # the official archives (FASHION_MNIST_ARCHIVES)
    .venv/bin/python -m benchmarks.bench --data-dir DIR --repeats 5 --json results.json
    .venv/bin/python -m benchmarks.bench --sample --repeats 1    # the bundled sample archives: a quick smoke run
    .venv/bin/python -m benchmarks.bench --folder build/hub      # time loading an export you already have

In one run:
1. builds the dataset with a per-example baseline (measure.PerExampleBaseline) and with `FashionMnist` (num_proc =
   CPU count, and 1), alternately, --repeats times, each in a fresh process with a fresh cache: wall and CPU time
   of `download_and_prepare` (the process and its workers) and the peak memory of its process tree (psutil);
2. profiles a one-process `FashionMnist` build with cProfile, sums its CPU time by phase (measure.PHASES), and
   compares its PNG encoder with Pillow's;
3. exports the last build (`tools.export.write_folder`) and times a cold `load_dataset(folder)`;
4. times all train and test pixels as `uint8` arrays from the export's `arrays` config, warm and from a fresh cache,
   against gzip + `numpy.frombuffer` on the four archives; sizes each config's Parquet files and Arrow cache;
5. times one pass over the train split: plain iteration, numpy batches, the card's fast path (tools/fast_path.py)
   and 256-row slices of the archives' array (the floor);
6. prints every figure and ratio (benchmarks/figures.py), each target with whether it holds, and writes them as JSON.
Whether each way of reading gives the archives' pixels is tested in tests/, not here.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import psutil

import fashion_mnist as fm
from benchmarks import figures, measure
from benchmarks.figures import BATCH_SIZE, BUILD_MEASURES, CONFIGS, EXPORTED, VARIANTS, Results, table
from tools.common import REPO, archives_dir
from tools.export import write_folder
from tools.fast_path import as_arrays
from tools.layout import DATA_FOLDERS

PROG = "benchmarks.bench"
DEFAULT_JSON = REPO / "build" / "bench" / "results.json"


def machine() -> dict:
    import PIL
    import pyarrow

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return {
        "cpu": next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown"),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{module.__name__: module.__version__ for module in (datasets, pyarrow, np, PIL)},
    }


def run_builds(args, work: Path, results: Results) -> tuple[list, Path]:
    """Alternate the builds of VARIANTS; one that is the same build as an earlier one (FashionMnist, num_proc=1, when
    --num-proc is 1) is not run again and takes its figures. Keep the cache of EXPORTED's last build."""
    processes = {name: variant.num_proc or args.num_proc for name, variant in VARIANTS.items()}
    kind = {name: (variant.baseline, processes[name]) for name, variant in VARIANTS.items()}
    same_as = {name: next(other for other in VARIANTS if kind[other] == kind[name]) for name in VARIANTS}
    runs = []
    for repeat in range(args.repeats):
        for variant in [name for name in VARIANTS if same_as[name] == name]:
            cache_dir = work / f"cache-{variant}-{repeat}"
            spec = {"kind": "build", "variant": variant, "num_proc": processes[variant], "cache_dir": str(cache_dir)}
            result = measure.spawn({**spec, "config": args.config, "data_dir": str(args.data_dir)}, work)
            runs.append({"variant": variant, "repeat": repeat, "num_proc": processes[variant], **result})
            log(f"build {variant:<10} #{repeat + 1}: {result['wall']:6.2f} s, CPU {result['cpu']:6.2f} s, "
                f"tree PSS {result['peak_tree_pss'] / 2**20:.0f} MiB")  # fmt: skip
            if (variant, repeat) != (EXPORTED, args.repeats - 1):
                shutil.rmtree(cache_dir, ignore_errors=True)
    for variant in VARIANTS:
        mine = [run for run in runs if run["variant"] == same_as[variant]]
        for measure_name, unit in BUILD_MEASURES.items():
            name = figures.build_figure(variant, measure_name)
            if unit == "s":
                results.set_timing(name, {key: statistics.median(run[key] for run in mine) for key in ("wall", "cpu")})
            else:
                results.set(name, statistics.median(run[measure_name] for run in mine))
    return runs, work / f"cache-{EXPORTED}-{args.repeats - 1}"


def export(args, cache_dir: Path, out: Path) -> dict:
    """Wall and CPU seconds of tools.export.write_folder on the FashionMnist build prepared in `cache_dir`."""
    common = {"data_dir": str(args.data_dir), "cache_dir": str(cache_dir)}
    builder = fm.FashionMnist(config_name=args.config, **common)
    builder.download_and_prepare()  # finds the prepared build and reuses it

    def write():
        # The config of arrays, prepared from the same archives, is part of the export's work.
        arrays = {"config_name": "sample", "arrays": True} if args.config == "sample" else {"config_name": "arrays"}
        arrays_builder = fm.FashionMnist(**arrays, **common)
        arrays_builder.download_and_prepare()
        return write_folder({"fashion_mnist": builder, "arrays": arrays_builder}, out)

    return measure.timed(write)[0]


def timed_pass(batches) -> dict:
    """Wall and CPU seconds to go through `batches` (pairs of pixel arrays and labels), summing their pixels."""

    def go():
        for images, _labels in batches:
            np.asarray(images).sum()

    return measure.timed(go)[0]


def epoch_passes(train, archive_images, results: Results) -> None:
    """One pass over the train split in each way, and the fast path's one-time costs."""
    results.set("train_examples", train.num_rows)
    results.set_timing(figures.epoch_figure("plain"), timed_pass((row["image"], row["label"]) for row in train))
    batches = train.with_format("numpy").iter(batch_size=BATCH_SIZE)
    results.set_timing(figures.epoch_figure("numpy_batches"), timed_pass((b["image"], b["label"]) for b in batches))

    decode, arrays = measure.timed(lambda: as_arrays(train))
    results.set_timing("fast_path_decode_seconds", decode)
    results.set_timing("fast_path_cached_seconds", measure.timed(lambda: as_arrays(train))[0])
    slices = (arrays[i : i + BATCH_SIZE] for i in range(0, len(arrays), BATCH_SIZE))
    results.set_timing(
        figures.epoch_figure("fast_path"), timed_pass((batch["image"], batch["label"]) for batch in slices)
    )

    # Random access into the cached column is slow: timed on a tenth of an epoch, scaled to a whole one.
    order = np.random.default_rng(0).permutation(len(arrays))
    part = order[: max(BATCH_SIZE, len(order) // 10)]
    random_batches = (arrays[part[i : i + BATCH_SIZE]] for i in range(0, len(part), BATCH_SIZE))
    seconds = timed_pass((batch["image"], batch["label"]) for batch in random_batches)
    scaled = {key: value * len(order) / len(part) for key, value in seconds.items()}
    results.set_timing(figures.epoch_figure("fast_path_random_access"), scaled)

    to_memory, in_memory = measure.timed(lambda: arrays[:])
    results.set_timing("fast_path_to_memory_seconds", to_memory)
    images, labels = in_memory["image"], in_memory["label"]
    shuffled = ((images[order[i : i + BATCH_SIZE]], labels[order[i : i + BATCH_SIZE]])
                for i in range(0, len(order), BATCH_SIZE))  # fmt: skip
    results.set_timing(figures.epoch_figure("fast_path_shuffled"), timed_pass(shuffled))
    floor = ((archive_images[i : i + BATCH_SIZE], None) for i in range(0, len(archive_images), BATCH_SIZE))
    results.set_timing(figures.epoch_figure("numpy_floor"), timed_pass(floor))


def run(args) -> dict:
    datasets.disable_progress_bars()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fashion-mnist-bench-", dir=args.work_dir))
    report = {"machine": machine(), "settings": settings(args), "load_average_before": os.getloadavg()}
    results = Results()
    try:
        report["builds"], last_build = run_builds(args, work, results)
        report["profile"] = profile_build(args, work, results)
        results.set_timing("export_seconds", export(args, last_build, work / "hub"))
        log(f"export: {results.values['export_seconds']:.2f} s")
        folder = args.folder or work / "hub"
        report["configs"] = load_folder(args, folder, work, results)
        train = datasets.load_dataset(str(folder), CONFIGS[0], split="train", cache_dir=str(work / "cache-load"))
        train_archives = next(split for split in measure.splits_of(args.config) if split.split == "train")
        epoch_passes(train, measure.archive_arrays(args.data_dir, train_archives)[0], results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.update(results.report(args.num_proc))
    report["load_average_after"] = os.getloadavg()
    return report


def profile_build(args, work: Path, results: Results) -> dict:
    """Where a one-process build's time goes, and the PNG encoder against Pillow's."""
    spec = {"kind": "profile", "config": args.config, "data_dir": str(args.data_dir), "cache_dir": str(work / "prof")}
    profile = measure.spawn(spec, work)
    for name in ("png_bytes_ours", "png_bytes_pillow"):
        results.set(name, profile[name])
    for name in ("encode_us_ours", "encode_us_pillow"):
        results.set_timing(name, profile[name])
    return {key: profile[key] for key in ("phases", "profiled", "num_examples")}


def load_folder(args, folder: Path, work: Path, results: Results) -> list[str]:
    """Cold load of the default config; all pixels from the arrays config; each config's download and cache
    sizes. Return the configs that the folder holds."""
    spec = {"kind": "load", "folder": str(folder), "config": CONFIGS[0], "cache_dir": str(work / "cache-load")}
    load = measure.spawn(spec, work)
    results.set_timing("cold_load_seconds", load)
    results.set_timing("cold_load_process_seconds", load["process"])
    results.set(figures.cache_figure(CONFIGS[0]), load["cache_bytes"])
    log(f"cold load_dataset(folder): {load['wall']:.2f} s ({load['process']['wall']:.2f} s with the process)")

    archives = [archive for split in measure.splits_of(args.config) for archive in (split.images, split.labels)]
    results.set("archives_bytes", sum(archive.num_bytes for archive in archives))
    files = {config: (folder / DATA_FOLDERS[config]).glob("*.parquet") for config in CONFIGS}
    sizes = {config: [path.stat().st_size for path in paths] for config, paths in files.items()}
    configs = [config for config in CONFIGS if sizes[config]]
    for config in configs:
        results.set(figures.download_figure(config), sum(sizes[config]))
    if "arrays" not in configs:
        log(f"note: {folder} has no arrays config: its figures are not measured")
        return configs
    spec = {"kind": "arrays", "folder": str(folder), "cache_dir": str(work / "cache-arrays"), "repeats": args.repeats}
    arrays = measure.spawn({**spec, "config": args.config, "data_dir": str(args.data_dir)}, work)
    for name in ("archive_arrays_seconds", "arrays_cold_seconds", "arrays_warm_seconds"):
        results.set_timing(name, arrays[name])
    results.set(figures.cache_figure("arrays"), arrays["cache_bytes"])
    return configs


def settings(args) -> dict:
    return {
        "command": " ".join([PROG, *args.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data_dir": str(args.data_dir),
        "folder": str(args.folder) if args.folder else None,
        "config": args.config,
        "repeats": args.repeats,
        "num_proc": args.num_proc,
        "batch_size": BATCH_SIZE,
        "memory_sample_interval": measure.SAMPLE_INTERVAL,
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=archives_dir(), help="folder of the four official archives")
    source.add_argument("--sample", action="store_true", help="use the bundled sample archives (dummy/)")
    parser.add_argument("--repeats", type=int, default=3, help="builds of each kind, alternated (default 3)")
    parser.add_argument("--num-proc", type=int, default=os.cpu_count(), help="processes of the FashionMnist build")
    parser.add_argument("--folder", type=Path, help="time loading this export folder instead of the run's own export")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()), help="scratch space")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.folder and not (args.folder / "README.md").is_file():
        parser.error(f"--folder {args.folder} is not an export folder: it has no README.md")
    args.config = "sample" if args.sample else "fashion_mnist"
    problem = None if args.sample else fm.data_dir_problem(str(args.data_dir), fm.OFFICIAL_SPLITS, "--data-dir")
    if problem:
        parser.exit(1, f"{PROG}: error: {problem}\n")
    args.data_dir = (REPO / fm.SAMPLE_DIR if args.sample else args.data_dir).resolve()
    args.folder = args.folder.resolve() if args.folder else None
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
