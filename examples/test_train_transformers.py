"""The training example end to end on the export of the bundled sample (60 train, 40 test examples)."""

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


def test_epochs_become_steps_from_the_split_size(sample_export):
    train = datasets.load_dataset(str(sample_export), split="train", streaming=True)
    assert train_transformers.steps_for_epochs(train, epochs=1, batch_size=16) == 4  # 60 examples: 3 full batches + 1
    assert train_transformers.steps_for_epochs(train, epochs=2.5, batch_size=16) == 10
    assert train_transformers.steps_for_epochs(train, epochs=1, batch_size=60) == 1


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
