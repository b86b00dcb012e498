"""The training example end to end on the export of the bundled sample (60 train, 40 test examples)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import train_transformers
from transformers import (
    AutoModelForImageClassification,
    ResNetConfig,
    ResNetForImageClassification,
    ViTImageProcessor,
)

import fashion_mnist as fm
from tools import export

EXAMPLES = Path(__file__).resolve().parent
# Run by torchrun in each process: the example, with a note of every image its stream yields.
RECORDING_RUN = """
import hashlib, json, os, sys
import train_transformers

seen = []
make_transform = train_transformers.pixel_transform


def recording_transform(image_processor=None):
    transform = make_transform(image_processor)

    def record(batch):
        seen.extend(hashlib.sha256(image.tobytes()).hexdigest() for image in batch["image"])
        return transform(batch)

    return record


train_transformers.pixel_transform = recording_transform
metrics = train_transformers.main(sys.argv[2:])
with open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"] + ".json"), "w") as file:
    json.dump({"seen": seen, "losses": metrics["losses"], "accuracy": metrics.get("accuracy")}, file)
"""


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory) -> Path:
    """The Hub-ready folder that `python -m tools.export --sample` writes."""
    builder = export.build(config_name="sample", cache_dir=str(tmp_path_factory.mktemp("cache")))
    return export.write_folder(builder, tmp_path_factory.mktemp("export") / "hub")


@pytest.fixture
def streaming_loads(monkeypatch) -> list:
    """Records the keyword arguments of each `load_dataset` call the example makes."""
    calls = []

    def load_dataset(*args, **kwargs):
        calls.append(kwargs)
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

    assert streaming_loads == [{"streaming": True}]
    steps, losses = zip(*metrics["losses"], strict=True)
    assert steps == tuple(range(1, 41))
    early, late = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert late < 0.6 * early, f"the loss did not go down: {losses}"

    assert metrics["examples"] == 40
    assert 0 <= metrics["accuracy"] <= 1
    assert list(metrics["per_class"]) == fm.CLASS_NAMES
    assert sum(counts["examples"] for counts in metrics["per_class"].values()) == 40
    printed = capsys.readouterr().out
    assert f"Test accuracy: {metrics['accuracy']:.4f}" in printed
    table = printed[printed.index("Test accuracy") :].splitlines()
    for name in fm.CLASS_NAMES:
        assert any(line.startswith(name + " ") for line in table), f"no row for {name!r}"

    saved = AutoModelForImageClassification.from_pretrained(tmp_path / "model")
    assert saved.config.id2label == dict(enumerate(fm.CLASS_NAMES))


def image_digests(folder: Path, split: str) -> set[str]:
    images = datasets.load_dataset(str(folder), split=split, streaming=True)
    return {hashlib.sha256(example["image"].tobytes()).hexdigest() for example in images}


def test_two_processes_train_on_disjoint_parts_of_the_stream(sample_export, tmp_path):
    script = tmp_path / "recording_run.py"
    script.write_text(RECORDING_RUN)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    arguments = [str(tmp_path), str(sample_export), "--max-steps", "40", "--batch-size", "8", "--logging-steps", "1"]
    environment = {**os.environ, "PYTHONPATH": str(EXAMPLES), "OMP_NUM_THREADS": "1"}
    subprocess.run([*command, *arguments, "--output-dir", str(tmp_path / "model")], env=environment, check=True)

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
    assert 0 <= ranks[0]["accuracy"] <= 1, "the first process evaluated the model"
    assert ranks[1]["accuracy"] is None, "the second one did not"


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


def test_fine_tunes_a_checkpoint_through_its_image_processor(sample_export, tmp_path):
    # A stand-in for a pretrained checkpoint: RGB input, another number of classes, its own processor.
    checkpoint = tmp_path / "checkpoint"
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=3)
    ResNetForImageClassification(config).save_pretrained(checkpoint)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(checkpoint)

    metrics = train_transformers.main(
        [str(sample_export), "--model", str(checkpoint), "--max-steps", "2", "--output-dir", str(tmp_path / "model")]
    )

    assert metrics["examples"] == 40
    saved = AutoModelForImageClassification.from_pretrained(tmp_path / "model")
    assert saved.config.id2label == dict(enumerate(fm.CLASS_NAMES))
