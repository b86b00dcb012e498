"""The benchmark: its figures and ratios hang together, its profile finds the builder's phases, and one run on the
sample archives measures every figure. No timing targets: those are the benchmark's, as ratios within a run."""

import cProfile
import json
import math
import pstats
import re

import pytest

import fashion_mnist as fm
from benchmarks import bench, measure
from benchmarks.figures import CONFIGS, FIGURE_NAMES, FIGURES, RATIOS, VARIANTS, Ratio, Results, Target
from tests.fixtures import run_python


def positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_every_ratio_divides_two_figures_and_names_are_unique():
    assert len(FIGURE_NAMES) == len(FIGURES)
    assert len({ratio.name for ratio in RATIOS}) == len(RATIOS)
    assert [r.name for r in RATIOS if {r.numerator, r.denominator} - FIGURE_NAMES] == []


def test_a_ratio_divides_values_or_cpu_times_and_a_target_compares_it():
    results = Results()
    results.set_timing("epoch_plain_seconds", {"wall": 4.0, "cpu": 1.0})
    results.set_timing("epoch_fast_path_seconds", {"wall": 2.0, "cpu": 4.0})
    wall = Ratio("r", "r", "epoch_plain_seconds", "epoch_fast_path_seconds")
    assert results.ratio(wall) == 2.0
    assert results.ratio(Ratio("r", "r", "epoch_plain_seconds", "epoch_fast_path_seconds", cpu=True)) == 0.25
    assert results.ratio(Ratio("r", "r", "epoch_plain_seconds", "export_seconds")) is None  # not measured
    assert (Target("<", 1).holds(1.0), Target("<=", 1).holds(1.0), Target(">=", 3).holds(2.99)) == (False, True, False)
    with pytest.raises(KeyError, match="not a figure"):
        results.set("epoch_plain_secs", 1.0)


def test_a_phase_counts_a_nested_call_once():
    def inner():
        return sum(range(20_000))

    def outer():
        return inner() + inner()

    profiler = cProfile.Profile()
    profiler.runcall(outer)
    stats = pstats.Stats(profiler)
    assert measure.phase_seconds(stats, [outer, inner]) == measure.phase_seconds(stats, [outer])
    assert 0 < measure.phase_seconds(stats, [inner]) <= measure.phase_seconds(stats, [outer])


@pytest.mark.parametrize("problem", ["does not exist", "has no t10k-labels-idx1-ubyte.gz"])
def test_a_wrong_data_dir_is_one_line_before_any_work(tmp_path, problem):
    data_dir = tmp_path / "archives"
    if problem.startswith("has no"):
        data_dir.mkdir()
        for split in fm.OFFICIAL_SPLITS:
            for archive in (split.images, split.labels):
                (data_dir / archive.filename).write_bytes(b"")
        (data_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    out = tmp_path / "results.json"
    command = ["-m", "benchmarks.bench", "--data-dir", str(data_dir), "--json", str(out), "--work-dir", str(tmp_path)]
    code, stdout, stderr = run_python(*command)
    assert (code, stdout) == (1, "")
    expected = (
        rf"benchmarks\.bench: error: --data-dir {re.escape(str(data_dir))} {problem}: give the folder that holds "
    )
    assert re.fullmatch(expected + r"train-images-idx3-ubyte\.gz, [^\n]+\n", stderr), stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == (["archives"] if data_dir.exists() else [])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    out = root / "results.json"
    argv = ["--sample", "--repeats", "1", "--num-proc", "2", "--json", str(out), "--work-dir", str(root)]
    assert bench.main(argv) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_every_figure_is_measured(report):
    figures = report["figures"]
    assert [f["name"] for f in figures] == [f.name for f in FIGURES]
    assert [f["name"] for f in figures if not positive(f["value"])] == []
    timed = [f for f in figures if f["unit"] in ("s", "us/image") and f["value"] is not None]
    assert [f["name"] for f in timed if f["cpu"] is None] == []
    assert next(f["value"] for f in figures if f["name"] == "train_examples") == 60
    assert report["configs"] == list(CONFIGS)  # the run's own export has both


@pytest.mark.slow
def test_every_target_is_judged(report):
    targets = [r for r in report["ratios"] if r["target"] is not None]
    assert {r["name"] for r in targets} == {r.name for r in RATIOS if r.target is not None}
    assert [r["name"] for r in targets if not positive(r["value"]) or not isinstance(r["holds"], bool)] == []


@pytest.mark.slow
def test_builds_alternate_in_fresh_processes_whose_memory_is_sampled(report):
    builds = report["builds"]
    assert [b["variant"] for b in builds] == list(VARIANTS)
    assert all(b["num_examples"] == {"train": 60, "test": 40} for b in builds)
    assert all(b["memory_samples"] > 0 and b["peak_tree_pss"] <= b["peak_tree_rss"] for b in builds)


@pytest.mark.slow
def test_the_profile_finds_every_phase_of_the_builder(report):
    profile = report["profile"]
    assert profile["num_examples"] == 100
    assert list(profile["phases"]) == [*measure.PHASES, measure.REST]
    assert [name for name, seconds in profile["phases"].items() if not positive(seconds)] == []
