"""Parallel streaming of the export's layout: each rank and each DataLoader worker reads its own rows.

The export is synthetic: the layout that tools.export writes (its own writer, the real split sizes), with a
row index for the only column, so that the tests can tell which rows each reader got. The DataLoader tests
need torch: they run in the examples environment and skip in the main one.
"""

import importlib.util
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from datasets.distributed import split_dataset_by_node
from datasets.packaged_modules.parquet.parquet import Parquet

from tools import layout, parquet

SPLIT_ROWS = {"train": 60_000, "test": 10_000}
READERS = range(1, 9)


@pytest.fixture(scope="module")
def indexed_export(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("indexed") / layout.DATA_FOLDER
    folder.mkdir()
    for split, rows in SPLIT_ROWS.items():
        parquet.write_split(datasets.Dataset.from_dict({"index": range(rows)}), folder, split)
    return folder.parent


def load(folder: Path, split: str, reshard: bool = True) -> datasets.IterableDataset:
    """The split streamed through the card's `configs` (the paths it gives), resharded as the card shows."""
    (data_files,) = (c["data_files"] for c in layout.CONFIGS if c["config_name"] == "fashion_mnist")
    paths = {entry["split"]: str(folder / entry["path"]) for entry in data_files}
    stream = datasets.load_dataset("parquet", data_files=paths, split=split, streaming=True)
    return stream.reshard() if reshard else stream


def row_groups(folder: Path, split: str) -> set[tuple[str, int]]:
    """Every (file name, row group) of a split, from the Parquet footers."""
    files = sorted((folder / layout.DATA_FOLDER).glob(f"{split}-*.parquet"))
    return {(f.name, group) for f in files for group in range(pq.ParquetFile(f).num_row_groups)}


@pytest.fixture
def reads(monkeypatch) -> list:
    """(file name, row group) of each piece of Parquet that streaming opens; None for a whole file."""
    opened = []
    generate_tables = Parquet._generate_tables

    def recording(self, files, row_groups_list):
        for file, groups in zip(files, row_groups_list, strict=True):
            name = Path(file).name
            opened.extend([(name, None)] if groups is None else [(name, group) for group in groups])
        yield from generate_tables(self, files, row_groups_list)

    monkeypatch.setattr(Parquet, "_generate_tables", recording)
    return opened


def read_rank(stream, rank: int, world_size: int, reads: list, **kwargs) -> tuple[list[int], list]:
    """The row indexes that one rank streams, and the pieces of Parquet it opened."""
    reads.clear()
    part = split_dataset_by_node(stream, rank=rank, world_size=world_size, **kwargs)
    indexes = [i for batch in part.iter(batch_size=1_000) for i in batch["index"]]
    return indexes, list(reads)


def assert_disjoint_and_complete(parts: list[list[int]], rows: int) -> None:
    counts = Counter(i for part in parts for i in part)
    assert sorted(counts) == list(range(rows)), "together the readers got every row"
    assert max(counts.values()) == 1, "no row went to two readers, or twice to one"
    assert all(parts), "every reader got rows"


def test_files_hold_the_split_in_order_in_row_groups(indexed_export):
    for split, rows in SPLIT_ROWS.items():
        files = sorted((indexed_export / layout.DATA_FOLDER).glob(f"{split}-*.parquet"))
        assert [f.name.split("-of-")[0] for f in files] == [f"{split}-{i:05d}" for i in range(layout.FILES_PER_SPLIT)]
        assert [i for f in files for i in pq.read_table(f)["index"].to_pylist()] == list(range(rows))
        sizes = [
            pq.ParquetFile(f).metadata.row_group(g).num_rows
            for f in files
            for g in range(pq.ParquetFile(f).num_row_groups)
        ]
        assert max(sizes) == layout.ROW_GROUP_SIZE


@pytest.mark.parametrize("split", SPLIT_ROWS)
def test_reshard_makes_a_shard_per_row_group(indexed_export, split):
    assert load(indexed_export, split, reshard=False).num_shards == layout.FILES_PER_SPLIT
    assert load(indexed_export, split).num_shards == len(row_groups(indexed_export, split))


@pytest.mark.parametrize("world_size", READERS)
@pytest.mark.parametrize("split", SPLIT_ROWS)
def test_each_rank_reads_its_own_row_groups(indexed_export, reads, split, world_size):
    stream = load(indexed_export, split)
    ranks = [read_rank(stream, rank, world_size, reads, strategy="shards") for rank in range(world_size)]

    assert_disjoint_and_complete([indexes for indexes, _ in ranks], SPLIT_ROWS[split])
    opened = Counter(piece for _, pieces in ranks for piece in pieces)
    assert set(opened) == row_groups(indexed_export, split), "each row group is opened ..."
    assert max(opened.values()) == 1, "... by one rank, once"


@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 5, 6, 8])
def test_the_default_strategy_splits_the_train_row_groups_for_most_world_sizes(indexed_export, reads, world_size):
    # Without strategy="shards", split_dataset_by_node splits by shards only when the world size divides their
    # number (120 train row groups); otherwise every rank reads every row and keeps 1 in world_size.
    stream = load(indexed_export, "train")
    ranks = [read_rank(stream, rank, world_size, reads) for rank in range(world_size)]

    assert_disjoint_and_complete([indexes for indexes, _ in ranks], SPLIT_ROWS["train"])
    opened = Counter(piece for _, pieces in ranks for piece in pieces)
    assert set(opened) == row_groups(indexed_export, "train")
    assert max(opened.values()) == 1


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_without_reshard_each_rank_reads_its_own_files(indexed_export, reads, world_size):
    # What datasets 4 does (its reshard() leaves Parquet files whole): one shard per file.
    stream = load(indexed_export, "train", reshard=False)
    ranks = [read_rank(stream, rank, world_size, reads) for rank in range(world_size)]

    assert_disjoint_and_complete([indexes for indexes, _ in ranks], SPLIT_ROWS["train"])
    opened = Counter(piece for _, pieces in ranks for piece in pieces)
    assert set(opened) == {(path.name, None) for path in layout.parquet_files(indexed_export, "fashion_mnist", "train")}
    assert max(opened.values()) == 1


def worker_rows(stream, num_workers: int) -> list[list[int]]:
    """The row indexes each DataLoader worker yields, by worker."""
    import torch.utils.data

    def tag(batch):
        return {"worker": [torch.utils.data.get_worker_info().id] * len(batch["index"])}

    loader = torch.utils.data.DataLoader(stream.map(tag, batched=True), batch_size=500, num_workers=num_workers)
    by_worker = [[] for _ in range(num_workers)]
    for batch in loader:
        for index, worker in zip(batch["index"].tolist(), batch["worker"].tolist(), strict=True):
            by_worker[worker].append(index)
    return by_worker


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch: runs in the examples venv")
@pytest.mark.parametrize("num_workers", READERS)
@pytest.mark.parametrize("reshard", [True, False], ids=["resharded", "by file"])
def test_each_dataloader_worker_reads_its_own_shards(indexed_export, num_workers, reshard):
    # The test split, the smaller: 24 row groups in 8 files, enough shards for 8 workers either way.
    by_worker = worker_rows(load(indexed_export, "test", reshard=reshard), num_workers)
    assert_disjoint_and_complete(by_worker, SPLIT_ROWS["test"])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch: runs in the examples venv")
def test_the_streaming_benchmark_measures_every_reader_of_a_sample_export(sample_export, capsys):
    from benchmarks import streaming

    folder = sample_export[1]
    figures = streaming.main([str(folder), "--rounds", "1"])
    rows = 60  # the sample's training examples
    epochs = streaming.PIPELINE_EPOCHS
    assert {w: f["rows"] for w, f in figures["pipeline"].items()} == {1: rows * epochs, 2: rows * epochs}
    assert {w: f["rows"] for w, f in figures["workers"].items()} == {1: rows, 2: rows}
    assert figures["whole"]["rows"] == rows
    assert [r["rows"] for r in figures["ranks"]] == [rows // 2, rows // 2]
    assert sum(r["rows"] for r in figures["unsharded"]) == rows
    printed = capsys.readouterr().out
    assert printed.count(f"<= {streaming.TARGET_PIPELINE_MICROSECONDS}") == 2, "the target beside each worker count"
    assert f"target >= {streaming.TARGET_WORKER_SPEEDUP}x" in printed
