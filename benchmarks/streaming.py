"""Streaming the train split: the training example's input pipeline, DataLoader workers, and ranks.

    .venv-examples/bin/python -m benchmarks.streaming                # the folder tools.export wrote (build/hub)
    .venv-examples/bin/python -m benchmarks.streaming FOLDER --rounds 5

Needs torch and transformers (the examples environment).

- Pipeline: 3 epochs of examples/train_transformers.py's input pipeline (the `arrays` config, streamed and
  resharded, shards in a new order each epoch, a window of rows permuted and cut into uint8 batches), through
  its DataLoader with 1 and with 2 workers, alternately, `--rounds` times each. Target: at most 10 CPU µs per
  example, all processes together (CPU time per example is core-seconds: per core).
- Workers: the default config as the card loads it, `load_dataset(FOLDER, split="train", streaming=True)
  .reshard()`, images decoded to uint8 tensors, one streamed epoch through `torch.utils.data.DataLoader` with 1
  and with 2 workers, alternately. Target: 2 workers reach at least 1.6x the throughput of 1.
- Ranks: each rank of world size 2 streams its part (`split_dataset_by_node`), and the bytes it reads from
  disk are counted (`read_chars` of the process: read and pread calls, page cache included). Target: each
  rank reads about half the rows and half the bytes. For comparison, the same without `reshard()`.

Each figure is the median of the rounds, printed with the rounds' min-max. Wall time depends on what else runs on
the machine; CPU time (this process and its workers) much less, but it differs between hosts of the same kind.
"""

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import datasets
import psutil
import torch
from datasets import load_dataset
from datasets.distributed import split_dataset_by_node

from benchmarks.figures import BATCH_SIZE
from examples import train_transformers
from tools import cli
from tools.common import EXPORT_FOLDER

TARGET_PIPELINE_MICROSECONDS = 10  # CPU per training example, all processes together
PIPELINE_EPOCHS = 3
ROUNDS = 3
WORKER_COUNTS = (1, 2)
WORLD_SIZE = 2
TARGET_WORKER_SPEEDUP = 1.6


def cpu_seconds() -> float:
    """User + system time of this process and of its children (the DataLoader workers), finished or running."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    running = sum(child.cpu_times().user + child.cpu_times().system for child in psutil.Process().children(True))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + running


def stream(folder: Path, reshard: bool = True):
    """The train split as the card loads it for parallel readers, images decoded to uint8 tensors."""
    train = load_dataset(str(folder), split="train", streaming=True)
    if reshard:
        train = train.reshard()
    return train.with_format("torch")


def worker_epoch(folder: Path, num_workers: int) -> dict:
    """One epoch through a DataLoader: rows, wall seconds, CPU seconds (workers included)."""
    loader = torch.utils.data.DataLoader(stream(folder), batch_size=BATCH_SIZE, num_workers=num_workers)
    cpu, wall, rows = cpu_seconds(), time.perf_counter(), 0
    for batch in loader:
        rows += len(batch["label"])
    # The workers have exited and been joined: their CPU time is in RUSAGE_CHILDREN now.
    return {"rows": rows, "wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}


def pipeline_epoch(folder: Path, num_workers: int) -> dict:
    """PIPELINE_EPOCHS epochs of the training example's input pipeline, through one loader whose workers live
    from one epoch to the next, as in the example: rows, wall seconds, CPU seconds (workers included)."""
    stream = load_dataset(str(folder), train_transformers.ARRAYS_CONFIG, split="train", streaming=True).reshard()
    batches = train_transformers.ShuffledBatches(
        stream, train_transformers.BATCH_SIZE, train_transformers.SHUFFLE_BUFFER, train_transformers.SEED
    )
    loader = train_transformers.BatchLoader(batches, num_workers=num_workers)
    cpu, wall, rows = cpu_seconds(), time.perf_counter(), 0
    for _ in range(PIPELINE_EPOCHS):
        for batch in loader:
            rows += len(batch["labels"])
    # Read before the workers exit: their time is then in RUSAGE_CHILDREN, and psutil no longer sees them.
    return {"rows": rows, "wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu}


def rank_reads(folder: Path, rank: int, world_size: int, reshard: bool = True) -> dict:
    """What one rank streams: rows, bytes read from files, wall and CPU seconds."""
    part = split_dataset_by_node(stream(folder, reshard), rank=rank, world_size=world_size)
    process = psutil.Process()
    read, cpu, wall, rows = process.io_counters().read_chars, cpu_seconds(), time.perf_counter(), 0
    for batch in part.iter(batch_size=BATCH_SIZE):
        rows += len(batch["label"])
    return {
        "rows": rows,
        "bytes": process.io_counters().read_chars - read,
        "wall": time.perf_counter() - wall,
        "cpu": cpu_seconds() - cpu,
    }


def measure_workers(folder: Path, rounds: int, epoch=worker_epoch) -> dict:
    """Median wall and CPU seconds of `epoch` per worker count, the counts alternating round by round, and the
    rounds' range of each (`wall_range`, `cpu_range`: min, max)."""
    runs = {workers: [] for workers in WORKER_COUNTS}
    for _ in range(rounds):
        for workers in WORKER_COUNTS:
            runs[workers].append(epoch(folder, workers))
    figures = {}
    for workers, results in runs.items():
        figures[workers] = {"rows": results[0]["rows"]}
        for key in ("wall", "cpu"):
            values = [r[key] for r in results]
            figures[workers] |= {key: statistics.median(values), f"{key}_range": (min(values), max(values))}
    return figures


def spread(f: dict, key: str) -> str:
    """The rounds' min-max of a figure, in seconds."""
    low, high = f[f"{key}_range"]
    return f"{low:.2f}-{high:.2f}"


def print_pipeline(figures: dict) -> None:
    print(
        f"The training example's input pipeline: {PIPELINE_EPOCHS} streamed epochs of the train split of the "
        f"{train_transformers.ARRAYS_CONFIG} config, batches of {train_transformers.BATCH_SIZE} (medians):"
    )
    print(
        f"{'workers':>7}  {'rows':>7}  {'wall s':>7}  {'CPU s':>7}  {'CPU s, min-max':>14}  {'wall µs/ex':>10}  "
        f"{'CPU µs/ex':>9}  {'target':>7}  {'ratio':>6}"
    )
    for workers, f in figures.items():
        cpu_per_example = f["cpu"] / f["rows"] * 1e6
        wall_per_example = f["wall"] / f["rows"] * 1e6
        ratio = cpu_per_example / TARGET_PIPELINE_MICROSECONDS
        print(
            f"{workers:>7}  {f['rows']:>7,}  {f['wall']:>7.2f}  {f['cpu']:>7.2f}  {spread(f, 'cpu'):>14}  "
            f"{wall_per_example:>10.1f}  "
            f"{cpu_per_example:>9.1f}  {'<= ' + str(TARGET_PIPELINE_MICROSECONDS):>7}  {ratio:>5.2f}x  "
            f"{'met' if ratio <= 1 else 'MISSED'}"
        )
    print()


def print_workers(figures: dict) -> None:
    print(f"Streamed epoch of the default config's train split, images decoded, batches of {BATCH_SIZE} (medians):")
    print(
        f"{'workers':>7}  {'rows':>7}  {'wall s':>7}  {'wall s, min-max':>15}  {'CPU s':>7}  {'CPU s, min-max':>14}  "
        f"{'CPU µs/ex':>9}  {'rows/s':>8}  {'speedup':>7}"
    )
    base = figures[WORKER_COUNTS[0]]
    for workers, f in figures.items():
        speedup = base["wall"] / f["wall"]
        print(
            f"{workers:>7}  {f['rows']:>7,}  {f['wall']:>7.2f}  {spread(f, 'wall'):>15}  {f['cpu']:>7.2f}  "
            f"{spread(f, 'cpu'):>14}  {f['cpu'] / f['rows'] * 1e6:>9.1f}  "
            f"{f['rows'] / f['wall']:>8,.0f}  {speedup:>6.2f}x"
        )
    speedup = base["wall"] / figures[2]["wall"]
    verdict = "met" if speedup >= TARGET_WORKER_SPEEDUP else "MISSED"
    print(f"2 workers vs 1: {speedup:.2f}x the throughput (target >= {TARGET_WORKER_SPEEDUP}x: {verdict})\n")


def print_ranks(label: str, ranks: list[dict], total_rows: int, total_bytes: int) -> None:
    print(f"World size {len(ranks)}, {label}:")
    print(f"{'rank':>4}  {'rows':>7}  {'share':>6}  {'bytes read':>12}  {'share':>6}  {'wall s':>7}  {'CPU s':>6}")
    for rank, r in enumerate(ranks):
        print(
            f"{rank:>4}  {r['rows']:>7,}  {r['rows'] / total_rows:>6.1%}  {r['bytes']:>12,}  "
            f"{r['bytes'] / total_bytes:>6.1%}  {r['wall']:>7.2f}  {r['cpu']:>6.2f}"
        )
    print()


def main(argv=None) -> dict:
    args = parse_args(argv)
    folder = args.folder
    files = len(list(folder.glob("fashion_mnist/train-*.parquet")))
    print(f"{folder}: {files} train file(s); datasets {datasets.__version__}, torch {torch.__version__}")
    print(f"Load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs\n")
    pipeline = measure_workers(folder, args.rounds, pipeline_epoch)
    print_pipeline(pipeline)
    workers = measure_workers(folder, args.rounds)
    print_workers(workers)

    whole = rank_reads(folder, rank=0, world_size=1)
    print_ranks("reference: one reader, the whole split", [whole], whole["rows"], whole["bytes"])
    ranks = [rank_reads(folder, rank, WORLD_SIZE) for rank in range(WORLD_SIZE)]
    print_ranks("as the card loads it (reshard)", ranks, whole["rows"], whole["bytes"])
    unsharded = [rank_reads(folder, rank, WORLD_SIZE, reshard=False) for rank in range(WORLD_SIZE)]
    print_ranks("without reshard()", unsharded, whole["rows"], whole["bytes"])
    print(f"Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return {"pipeline": pipeline, "workers": workers, "whole": whole, "ranks": ranks, "unsharded": unsharded}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "folder", nargs="?", type=cli.path_argument, default=EXPORT_FOLDER, help="export folder (%(default)s)"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="epochs per worker count (%(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
