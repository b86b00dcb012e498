"""What benchmarks/bench.py reports: every figure and ratio named once, with its label, unit and target, and the
printed table. A figure of unit "s" or "us/image" carries its CPU time beside its wall time."""

import dataclasses
import operator

from tools.layout import DATA_FOLDERS

BATCH_SIZE = 256
CONFIGS = tuple(DATA_FOLDERS)  # the export's configs; the first is the default
OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


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


@dataclasses.dataclass(frozen=True)
class Ratio:
    """`numerator / denominator`, two figures of one run: their CPU times when `cpu` is true, else their values."""

    name: str
    label: str
    numerator: str
    denominator: str
    target: Target | None = None
    cpu: bool = False


@dataclasses.dataclass(frozen=True)
class Variant:
    """A build the benchmark measures: its label, its builder, and its processes (None: the run's --num-proc)."""

    label: str
    baseline: bool = False  # measure.PerExampleBaseline rather than FashionMnist
    num_proc: int | None = None


VARIANTS = {
    "baseline": Variant("per-example baseline, 1 process", baseline=True, num_proc=1),
    "ours": Variant("FashionMnist, num_proc={num_proc}"),
    "ours_1proc": Variant("FashionMnist, num_proc=1", num_proc=1),
}
EXPORTED = "ours"  # the variant whose last build the run exports and reads
BUILD_MEASURES = {"seconds": "s", "peak_tree_pss": "MiB", "peak_tree_rss": "MiB", "peak_largest_process": "MiB"}
EPOCHS = {
    "plain": "plain iteration (PIL images)",
    "numpy_batches": f"with_format('numpy'), batches of {BATCH_SIZE}",
    "fast_path": "fast path, slices of the cached column",
    "fast_path_random_access": "fast path, shuffled indices into the column (a tenth, scaled)",
    "fast_path_shuffled": "fast path, shuffled, column in memory",
    "numpy_floor": "slices of the archives' numpy array (the floor)",
}


# The names of the figures made from parts, each spelled here only.


def build_figure(variant: str, measure: str) -> str:
    """A measure (a key of BUILD_MEASURES) of a build (a key of VARIANTS)."""
    return f"build_{variant}_{measure}"


def download_figure(config: str) -> str:
    return f"download_bytes_{config}"


def cache_figure(config: str) -> str:
    return f"cache_bytes_{config}"


def epoch_figure(way: str) -> str:
    """The time of an epoch read in a way of EPOCHS."""
    return f"epoch_{way}_seconds"


FIGURES = (
    *(
        Figure(build_figure(name, measure), f"build {variant.label}: {measure}", unit)
        for name, variant in VARIANTS.items()
        for measure, unit in BUILD_MEASURES.items()
    ),
    Figure("png_bytes_ours", "PNG bytes per image, this encoder", "B/image"),
    Figure("png_bytes_pillow", "PNG bytes per image, Pillow's default", "B/image"),
    Figure("encode_us_ours", "PNG encoding, this encoder", "us/image"),
    Figure("encode_us_pillow", "PNG encoding, Pillow's default", "us/image"),
    Figure("export_seconds", "export to the Hub folder (write_folder)", "s"),
    Figure("cold_load_seconds", "cold load_dataset(folder)", "s"),
    Figure("cold_load_process_seconds", "  with process start and imports", "s"),
    Figure("archive_arrays_seconds", "all pixels as uint8: gzip + numpy.frombuffer on the archives", "s"),
    Figure("arrays_warm_seconds", "all pixels as uint8: arrays config, warm cache", "s"),
    Figure("arrays_cold_seconds", "all pixels as uint8: arrays config, fresh cache", "s"),
    Figure("archives_bytes", "the official archives", "bytes"),
    *(Figure(download_figure(config), f"Parquet download, {config}", "bytes") for config in CONFIGS),
    *(Figure(cache_figure(config), f"Arrow cache, {config}", "bytes") for config in CONFIGS),
    Figure("train_examples", "train examples in each epoch", "rows"),
    *(Figure(epoch_figure(way), f"epoch: {label}", "s") for way, label in EPOCHS.items()),
    Figure("fast_path_decode_seconds", "fast path, one-time decode (map, cold)", "s"),
    Figure("fast_path_cached_seconds", "fast path, from the cache (next runs)", "s"),
    Figure("fast_path_to_memory_seconds", "fast path, column into memory", "s"),
)
FIGURE_NAMES = {figure.name for figure in FIGURES}
BUILD_FIGURES = {build_figure(name, measure) for name in VARIANTS for measure in BUILD_MEASURES}


# Each build's figures by measure, for the ratios.
BASE, OURS, OURS_1PROC = (
    {measure: build_figure(variant, measure) for measure in BUILD_MEASURES}
    for variant in ("baseline", "ours", "ours_1proc")
)
RATIOS = (
    Ratio("build_speedup", "build time, baseline / FashionMnist (num_proc={num_proc})",
          BASE["seconds"], OURS["seconds"], Target(">=", 3)),
    Ratio("build_cpu_speedup_1proc", "build CPU time, baseline / FashionMnist (num_proc=1)",
          BASE["seconds"], OURS_1PROC["seconds"], Target(">=", 2), cpu=True),
    Ratio("build_memory_ratio", "peak tree PSS, FashionMnist (num_proc={num_proc}) / baseline",
          OURS["peak_tree_pss"], BASE["peak_tree_pss"], Target("<=", 1)),
    Ratio("build_speedup_1proc", "build time, baseline / FashionMnist (num_proc=1)",
          BASE["seconds"], OURS_1PROC["seconds"]),
    Ratio("build_memory_ratio_1proc", "peak tree PSS, FashionMnist (num_proc=1) / baseline",
          OURS_1PROC["peak_tree_pss"], BASE["peak_tree_pss"]),
    Ratio("build_memory_ratio_tree_rss", "peak tree RSS, FashionMnist (num_proc={num_proc}) / baseline",
          OURS["peak_tree_rss"], BASE["peak_tree_rss"]),
    Ratio("build_memory_ratio_largest_process", "largest process, FashionMnist (num_proc={num_proc}) / baseline",
          OURS["peak_largest_process"], BASE["peak_largest_process"]),
    Ratio("png_size_vs_pillow", "PNG bytes, this encoder / Pillow's default", "png_bytes_ours", "png_bytes_pillow"),
    Ratio("cold_load_fraction", "cold load_dataset(folder) / FashionMnist (num_proc={num_proc}) build time",
          "cold_load_seconds", OURS["seconds"], Target("<=", 0.2)),
    Ratio("arrays_warm_ratio", "all pixels CPU time, arrays config warm / gzip + frombuffer",
          "arrays_warm_seconds", "archive_arrays_seconds", Target("<=", 1), cpu=True),
    Ratio("arrays_cold_ratio", "all pixels CPU time, arrays config fresh cache / gzip + frombuffer",
          "arrays_cold_seconds", "archive_arrays_seconds", Target("<=", 3), cpu=True),
    *(
        Ratio(f"download_ratio_{config}", f"Parquet download, {config} / the archives",
              download_figure(config), "archives_bytes", target)
        for config, target in zip(CONFIGS, (Target("<", 1), Target("<=", 1)), strict=True)
    ),
    *(
        Ratio(f"cache_vs_download_{config}", f"Arrow cache / Parquet download, {config}",
              cache_figure(config), download_figure(config))
        for config in CONFIGS
    ),
    Ratio("fast_path_speedup", "epoch time, plain iteration / fast path",
          epoch_figure("plain"), epoch_figure("fast_path"), Target(">=", 10)),
    *(
        Ratio(f"{way}_speedup", f"epoch, plain iteration / {label}", epoch_figure("plain"), epoch_figure(way))
        for way, label in EPOCHS.items()
        if way not in ("plain", "fast_path")
    ),
)  # fmt: skip


class Results:
    """A run's figures: a value for names of FIGURES, and the CPU time beside each time."""

    def __init__(self):
        self.values, self.cpu = {}, {}

    def set(self, name: str, value, cpu=None) -> None:
        if name not in FIGURE_NAMES:
            raise KeyError(f"{name} is not a figure of FIGURES")
        self.values[name], self.cpu[name] = value, cpu

    def set_timing(self, name: str, timing: dict) -> None:
        self.set(name, timing["wall"], timing["cpu"])

    def ratio(self, ratio: Ratio) -> float | None:
        source = self.cpu if ratio.cpu else self.values
        numerator, denominator = source.get(ratio.numerator), source.get(ratio.denominator)
        return None if numerator is None or not denominator else numerator / denominator

    def report(self, num_proc: int) -> dict:
        """Every figure and ratio, measured or not (None), with its label, unit or target, as JSON."""
        figures = [
            {**dataclasses.asdict(figure), "value": self.values.get(figure.name), "cpu": self.cpu.get(figure.name)}
            for figure in FIGURES
        ]
        ratios = []
        for ratio in RATIOS:
            value = self.ratio(ratio)
            holds = None if ratio.target is None or value is None else ratio.target.holds(value)
            label = ratio.label.format(num_proc=num_proc)
            ratios.append({**dataclasses.asdict(ratio), "label": label, "value": value, "holds": holds})
        return {"figures": figures, "ratios": ratios}


# The printed table.


def show(value, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "MiB":
        return f"{value / 2**20:.0f} MiB"
    return {"s": f"{value:.3f} s", "bytes": f"{value:,} B", "B/image": f"{value:.1f} B", "us/image": f"{value:.1f} us",
            "rows": f"{value:,}", "ratio": f"{value:.3f}"}[unit]  # fmt: skip


def columns(rows: list) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def table(report: dict) -> str:
    """The builds, where a build's CPU time goes, every other figure with its CPU time, and the ratios."""
    num_proc = report["settings"]["num_proc"]
    figures = {figure["name"]: figure for figure in report["figures"]}
    builds = [("build", "median", "CPU", "tree PSS", "tree RSS", "largest", "every run (s)")]
    for name, variant in VARIANTS.items():
        seconds = figures[build_figure(name, "seconds")]
        memory = [show(figures[build_figure(name, measure)]["value"], unit)
                  for measure, unit in BUILD_MEASURES.items() if unit == "MiB"]  # fmt: skip
        every_run = ", ".join(f"{run['wall']:.2f}" for run in report["builds"] if run["variant"] == name)
        builds.append((
            variant.label.format(num_proc=num_proc),
            show(seconds["value"], "s"),
            show(seconds["cpu"], "s"),
            *memory,
            every_run or "the build above",
        ))  # fmt: skip

    profile = report["profile"]
    phases, examples, profiled = profile["phases"], profile["num_examples"], profile["profiled"]
    total = sum(phases.values())
    lines = [
        *columns(builds),
        "",
        f"Where a one-process FashionMnist build's time goes, from cProfile (profiled: {profiled['wall']:.2f} s, "
        f"{profiled['cpu']:.2f} s CPU;",
        "the profiler's cost per Python call inflates the phases made of many calls):",
    ]
    lines += columns([
        (f"  {phase}", f"{seconds:.2f} s", f"{seconds / total:.1%}", f"{seconds / examples * 1e6:.1f} us/example")
        for phase, seconds in phases.items()
    ])  # fmt: skip

    rows = [("figure", "value", "CPU")]
    for f in report["figures"]:
        if f["name"] not in BUILD_FIGURES:
            rows.append(
                (f["label"], show(f["value"], f["unit"]), "" if f["cpu"] is None else show(f["cpu"], f["unit"]))
            )
    lines += ["", *columns(rows), "", "Ratios from this run, and whether each target holds:"]
    ratios = []
    for ratio in report["ratios"]:
        target, verdict = ratio["target"], {True: "holds", False: "FAILS", None: ""}[ratio["holds"]]
        bound = "" if target is None else f"{target['op']} {target['bound']:g}"
        ratios.append((f"  {ratio['label']}", show(ratio["value"], "ratio"), bound, verdict))
    lines += columns(ratios)
    before, after, settings = report["load_average_before"], report["load_average_after"], report["settings"]
    cpus = report["machine"]["cpu_count"]
    lines.append(f"Load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}; {cpus} CPUs")
    lines.append(f"{settings['date']}: {settings['command']}")
    return "\n".join(lines)
