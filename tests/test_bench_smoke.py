"""The benchmark, run once on the sample archives: every figure is there and sane. No timing targets."""

import json
import math

import pytest

from benchmarks import bench

BUILD_VARIANTS = ("baseline", "ours", "ours_1proc")
BUILD_MEASURES = ("seconds", "cpu_seconds", "peak_tree_pss", "peak_tree_rss", "peak_largest_process", "maxrss_self")
SECONDS = (
    "export_seconds",
    "cold_load_seconds",
    "cold_load_process_seconds",
    "epoch_plain_seconds",
    "epoch_numpy_batches_seconds",
    "epoch_fast_path_seconds",
    "epoch_fast_path_shuffled_seconds",
    "epoch_fast_path_random_access_seconds",
    "epoch_numpy_floor_seconds",
    "fast_path_decode_seconds",
    "fast_path_cached_seconds",
    "fast_path_to_memory_seconds",
    "png_bytes_ours",
    "png_bytes_pillow",
    "encode_us_ours",
    "encode_us_pillow",
)
RATIOS = (
    "build_speedup",
    "build_cpu_speedup_1proc",
    "png_size_vs_pillow",
    "build_memory_ratio",
    "build_memory_ratio_tree_rss",
    "build_memory_ratio_largest_process",
    "build_speedup_1proc",
    "build_memory_ratio_1proc",
    "cold_load_fraction",
    "fast_path_speedup",
    "fast_path_shuffled_speedup",
    "numpy_batches_speedup",
    "floor_speedup",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    out = root / "results.json"
    argv = ["--sample", "--repeats", "1", "--num-proc", "2", "--json", str(out), "--work-dir", str(root)]
    assert bench.main(argv) == 0
    return json.loads(out.read_text())


def positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_every_figure_is_reported_and_positive(report):
    figures = report["figures"]
    names = [f"build_{v}_{m}" for v in BUILD_VARIANTS for m in BUILD_MEASURES] + list(SECONDS) + list(RATIOS)
    assert [name for name in names if not positive(figures.get(name))] == []
    assert figures["train_examples"] == 60


@pytest.mark.slow
def test_every_pass_reads_the_archives_pixels(report):
    figures = report["figures"]
    assert figures["passes_agree"] is True
    assert figures["fast_path_exact"] is True
    assert figures["test_split_exact"] is True
    # Comparing two exports needs two builds (--repeats 2); tests/test_export.py checks reproducibility.
    assert figures["export_reproducible"] is None


@pytest.mark.slow
def test_builds_alternate_in_fresh_processes(report):
    builds = report["builds"]
    assert [b["variant"] for b in builds] == list(BUILD_VARIANTS)
    assert all(b["num_examples"] == {"train": 60, "test": 40} for b in builds)
    assert all(b["memory_samples"] > 0 for b in builds)
    assert report["cold_load"]["num_examples"] == {"train": 60, "test": 40}


@pytest.mark.slow
def test_targets_are_listed_with_their_values(report):
    targets = report["targets"]
    assert set(targets) == set(bench.TARGETS)
    for name, target in targets.items():
        assert target["value"] == report["figures"][name]
        assert isinstance(target["holds"], bool)


@pytest.mark.slow
def test_cpu_breakdown_covers_every_stage(report):
    breakdown = report["cpu_breakdown"]
    assert breakdown["num_examples"] == 100
    assert set(breakdown["stages"]) == {"read", "verify", "decompress", "encode", "datasets"}
    assert all(positive(seconds) for seconds in breakdown["stages"].values())
    assert sum(breakdown["stages"].values()) < report["figures"]["build_ours_1proc_cpu_seconds"]
