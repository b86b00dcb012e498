"""The training example end to end on the export of the bundled sample (60 train, 40 test examples), its batches,
and a short run on the official archives that must learn."""

import hashlib
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import train_transformers
from transformers import (
    AutoModelForImageClassification,
    ResNetConfig,
    ResNetForImageClassification,
    ViTImageProcessor,
)

import fashion_mnist as fm
from tests.fixtures import require_official_archives, run_python
from tools.build import build_configs
from tools.export import write_folder

EXAMPLES = Path(__file__).resolve().parent
# Run by torchrun in each process: the example, with a note of every image it reads.
RECORDING_RUN = """
import hashlib, json, os, sys
import train_transformers

seen = []
table_arrays = train_transformers.table_arrays


def recording_table_arrays(table):
    images, labels = table_arrays(table)
    seen.extend(hashlib.sha256(image.tobytes()).hexdigest() for image in images)
    return images, labels


train_transformers.table_arrays = recording_table_arrays
metrics = train_transformers.main(sys.argv[2:])
with open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"] + ".json"), "w") as file:
    json.dump({"seen": seen, **{key: metrics.get(key) for key in ("losses", "epochs", "examples")}}, file)
"""
# A short run on the official data: 60 steps of 128 examples, an eighth of an epoch, learns well above chance
# (short runs measured: docs/training.md, Threads); images and labels that do not belong together stay near chance.
SHORT_RUN_STEPS = 60
SHORT_RUN_MIN_ACCURACY = 0.6


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory) -> Path:
    """The Hub-ready folder that `python -m tools.export --sample` writes."""
    builders = build_configs(sample=True, cache_dir=tmp_path_factory.mktemp("cache"))
    return write_folder(builders, tmp_path_factory.mktemp("export") / "hub")


@pytest.fixture
def streaming_loads(monkeypatch) -> list:
    """Records the arguments of each `load_dataset` call the example makes."""
    calls = []

    def load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.load_dataset(*args, **kwargs)

    monkeypatch.setattr(train_transformers, "load_dataset", load_dataset)
    return calls


def test_trains_and_evaluates_from_a_stream(sample_export, streaming_loads, tmp_path, capsys):
    metrics = train_transformers.main(
        [
            str(sample_export),
            *("--max-steps", "40", "--batch-size", "8", "--logging-steps", "1"),
            *("--output-dir", str(tmp_path / "model")),
        ]
    )

    assert streaming_loads == [((str(sample_export), "arrays"), {"streaming": True})]
    steps, losses = zip(*metrics["losses"], strict=True)
    assert steps == tuple(range(1, 41))
    early, late = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert late < 0.6 * early, f"the loss did not go down: {losses}"
    # The logged epoch is steps over the steps of an epoch (60 examples: 8 batches of 8), not Trainer's count for a
    # loader with no length (passes completed + steps of this pass / max_steps: 0.2 after step 8, 1.025 after 9).
    assert metrics["epochs"] == [(step, step / 8) for step in range(1, 41)]

    assert metrics["examples"] == 40
    assert list(metrics["per_class"]) == fm.CLASS_NAMES
    per_class = metrics["per_class"].values()
    assert [counts["examples"] for counts in per_class] == np.bincount(
        test_labels(sample_export), minlength=10
    ).tolist()
    assert metrics["accuracy"] == sum(counts["correct"] for counts in per_class) / 40
    printed = capsys.readouterr().out
    assert f"Test accuracy: {metrics['accuracy']:.4f}" in printed
    table = printed[printed.index("Test accuracy") :].splitlines()
    for name in fm.CLASS_NAMES:
        assert any(line.startswith(name + " ") for line in table), f"no row for {name!r}"

    saved = AutoModelForImageClassification.from_pretrained(tmp_path / "model")
    assert saved.config.id2label == dict(enumerate(fm.CLASS_NAMES))


def test_labels(folder: Path) -> np.ndarray:
    return np.asarray(datasets.load_dataset(str(folder), split="test")["label"])


test_labels.__test__ = False  # a helper, not a test


def image_digests(folder: Path, split: str) -> set[str]:
    images = datasets.load_dataset(str(folder), split=split, streaming=True)
    return {hashlib.sha256(example["image"].tobytes()).hexdigest() for example in images}


def test_two_processes_train_on_disjoint_parts_of_the_stream(sample_export, tmp_path):
    script = tmp_path / "recording_run.py"
    script.write_text(RECORDING_RUN)
    command = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(tmp_path)]
    arguments = [str(sample_export), "--max-steps", "40", "--batch-size", "8", "--logging-steps", "1"]
    environment = {"PYTHONPATH": str(EXAMPLES), "OMP_NUM_THREADS": "1"}
    code, _, stderr = run_python(*command, *arguments, "--output-dir", str(tmp_path / "model"), env=environment)
    assert code == 0, stderr

    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    train = image_digests(sample_export, "train")
    parts = [set(rank["seen"]) & train for rank in ranks]
    assert parts[0] and parts[1], "each process trained on examples"
    assert not parts[0] & parts[1], "no example went to both processes"
    assert parts[0] | parts[1] == train, "together they trained on the whole split"
    assert not set(ranks[1]["seen"]) - train, "the second process read no test examples"

    steps, losses = zip(*ranks[0]["losses"], strict=True)
    assert steps == tuple(range(1, 41))
    early, late = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert late < 0.6 * early, f"the loss did not go down: {losses}"
    # A step takes 2 batches of 8 of the 60 examples: 4 steps an epoch.
    assert ranks[0]["epochs"] == [[step, step / 4] for step in range(1, 41)]
    assert ranks[0]["examples"] == 40, "the first process evaluated the model on the whole test split"
    assert ranks[1]["examples"] is None, "the second one did not"


def shuffled_batch_rows(stream, epoch: int, rank: int = 0, world_size: int = 1, batch_size: int = 16) -> list:
    """(label, pixel bytes) of each row of one epoch of `ShuffledBatches`, and the batch sizes."""
    batches = train_transformers.ShuffledBatches(
        stream, batch_size, window=20, seed=0, rank=rank, world_size=world_size
    )
    loader = train_transformers.BatchLoader(batches)
    loader.set_epoch(epoch)
    rows, sizes = [], []
    for batch in loader:
        images = batch["pixel_values"][:, 0].numpy()  # uint8: the model's device makes them floats
        rows += [(int(label), image.tobytes()) for label, image in zip(batch["labels"], images, strict=True)]
        sizes.append(len(batch["labels"]))
    return rows, sizes


def test_shuffled_batches_hold_every_row_once_an_epoch_in_a_new_order(sample_export):
    stream = datasets.load_dataset(str(sample_export), "arrays", split="train", streaming=True).reshard()
    split = datasets.load_dataset(str(sample_export), "arrays", split="train").with_format("numpy", dtype=np.uint8)[:]
    expected = sorted(
        (int(label), image.tobytes()) for label, image in zip(split["label"], split["image"], strict=True)
    )

    first, sizes = shuffled_batch_rows(stream, epoch=0)
    second, _ = shuffled_batch_rows(stream, epoch=1)
    assert sorted(first) == sorted(second) == expected
    assert sizes == [16, 16, 16, 12], "full batches, the rest last"
    assert first != second, "each epoch has its own order"
    assert shuffled_batch_rows(stream, epoch=0)[0] == first, "the seed and the epoch fix the order"


def test_shuffled_batches_of_two_ranks_split_the_rows(sample_export):
    stream = datasets.load_dataset(str(sample_export), "arrays", split="train", streaming=True).reshard()
    parts = [shuffled_batch_rows(stream, epoch=0, rank=rank, world_size=2)[0] for rank in (0, 1)]
    assert parts[0] and parts[1]
    assert len(parts[0]) + len(parts[1]) == 60
    assert sorted(parts[0] + parts[1]) == sorted(shuffled_batch_rows(stream, epoch=0)[0])


@pytest.fixture(scope="module")
def official_export(tmp_path_factory) -> Path:
    """The Hub-ready folder that `python -m tools.export` writes from the official archives."""
    data_dir = require_official_archives()
    builders = build_configs(data_dir=str(data_dir), cache_dir=tmp_path_factory.mktemp("cache"))
    return write_folder(builders, tmp_path_factory.mktemp("official") / "hub")


@pytest.mark.real
def test_a_short_run_on_the_official_data_learns(official_export, tmp_path):
    arguments = [str(official_export), "--max-steps", str(SHORT_RUN_STEPS), "--output-dir", str(tmp_path / "model")]
    metrics = train_transformers.main(arguments)

    assert metrics["examples"] == 10_000
    assert metrics["accuracy"] >= SHORT_RUN_MIN_ACCURACY, metrics["per_class"]


def test_epochs_become_steps_from_the_split_size(sample_export):
    train = datasets.load_dataset(str(sample_export), split="train", streaming=True)
    assert train_transformers.steps_for_epochs(train, epochs=1, batch_size=16) == 4  # 60 examples: 3 full batches + 1
    assert train_transformers.steps_for_epochs(train, epochs=2.5, batch_size=16) == 10
    assert train_transformers.steps_for_epochs(train, epochs=1, batch_size=60) == 1
    # Two processes take a batch each per step: 60 examples, 2 x 16 per step, make 2 steps.
    assert train_transformers.steps_for_epochs(train, epochs=1, batch_size=16, processes=2) == 2


def test_epochs_need_the_split_size(sample_export, tmp_path):
    # The same Parquet files under a card without dataset_info: the stream's size is unknown.
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        f"    path: {sample_export}/fashion_mnist/train-*\n---\n"
    )
    train = datasets.load_dataset(str(tmp_path), split="train", streaming=True)
    with pytest.raises(SystemExit, match="--max-steps"):
        train_transformers.steps_for_epochs(train, epochs=1, batch_size=16)


def test_fine_tunes_a_checkpoint_through_its_image_processor(sample_export, streaming_loads, tmp_path):
    # A stand-in for a pretrained checkpoint: RGB input, another number of classes, its own processor.
    checkpoint = tmp_path / "checkpoint"
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=3)
    ResNetForImageClassification(config).save_pretrained(checkpoint)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(checkpoint)

    metrics = train_transformers.main(
        [str(sample_export), "--model", str(checkpoint), "--max-steps", "2", "--output-dir", str(tmp_path / "model")]
    )

    assert metrics["examples"] == 40
    # The checkpoint's processor wants PIL images: the default config, not the arrays.
    assert streaming_loads == [((str(sample_export),), {"streaming": True})]
    saved = AutoModelForImageClassification.from_pretrained(tmp_path / "model")
    assert saved.config.id2label == dict(enumerate(fm.CLASS_NAMES))
