"""Train a `transformers` image classifier on Fashion-MNIST, streamed with `datasets`.

    .venv-examples/bin/python examples/train_transformers.py                # the folder that tools.export wrote
    .venv-examples/bin/python examples/train_transformers.py DATASET        # a load_dataset path or Hub repo id
    .venv-examples/bin/python examples/train_transformers.py --model CKPT   # fine-tune pretrained weights (network)
    .venv-examples/bin/torchrun --nproc_per_node=2 examples/train_transformers.py   # 2 processes (docs/streaming.md)

(.venv-examples is the environment of examples/requirements.txt: torch, transformers, accelerate.)

The dataset is loaded with `streaming=True`: examples flow from the Parquet files through a shuffle buffer
and a batched transform into `Trainer`, and nothing is written to the datasets cache. Under `torchrun` (or
`accelerate launch`) each process streams its own shards of the training split: `reshard()` makes one shard
per Parquet row group and `Trainer` hands each process its share. Without --model the classifier is a small
RegNet built from a config, with random weights. After training, the first process evaluates on the test
split and prints the accuracy and a per-class accuracy table.
"""

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from datasets import load_dataset
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    RegNetConfig,
    RegNetForImageClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

# Where `python -m tools.export` writes the Hub-ready folder by default.
DEFAULT_DATASET = str(Path(__file__).resolve().parent.parent / "build" / "hub")
DEFAULT_OUTPUT_DIR = "build/train_transformers"
EPOCHS = 10
BATCH_SIZE = 128
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.05
WARMUP = 0.05  # fraction of the steps
SHUFFLE_BUFFER = 10_000
LOGGING_STEPS = 50
SEED = 0
# Mean and standard deviation of the training split's pixels, scaled to [0, 1].
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530


def model_config(names: list[str]) -> RegNetConfig:
    """A small RegNet for 28x28 grayscale images, labelled with the dataset's class names.

    Its stem halves the image to 14x14 (a ResNet's stem goes on down to 7x7), then three stages of one
    block each halve it again, to 7x7, 4x4 and 2x2."""
    return RegNetConfig(
        num_channels=1,
        embedding_size=32,
        hidden_sizes=[48, 96, 192],
        depths=[1, 1, 1],
        groups_width=16,
        layer_type="x",  # without the squeeze-and-excitation of "y": as accurate here, and faster
        id2label=dict(enumerate(names)),
        label2id={name: index for index, name in enumerate(names)},
    )


def build_model(checkpoint: str | None, names: list[str]):
    """The model and, for a checkpoint, its image processor (None: images only need scaling)."""
    if checkpoint is None:
        return RegNetForImageClassification(model_config(names)), None
    model = AutoModelForImageClassification.from_pretrained(
        checkpoint,
        id2label=dict(enumerate(names)),
        label2id={name: index for index, name in enumerate(names)},
        # The checkpoint's classification head has another number of classes: start a new one.
        ignore_mismatched_sizes=True,
    )
    return model, AutoImageProcessor.from_pretrained(checkpoint)


def pixel_transform(image_processor=None):
    """A function for `map(batched=True)`: a batch of images and labels to `pixel_values` and `labels`."""

    def transform(batch):
        if image_processor is None:
            images = np.stack([np.asarray(image, dtype=np.float32) for image in batch["image"]]) / 255
            pixel_values = ((images - PIXEL_MEAN) / PIXEL_STD)[:, np.newaxis]  # add the channel axis
        else:
            # Pretrained vision models expect three channels.
            images = [image.convert("RGB") for image in batch["image"]]
            pixel_values = image_processor(images, return_tensors="np")["pixel_values"]
        return {"pixel_values": pixel_values, "labels": batch["label"]}

    return transform


def steps_for_epochs(split, epochs: float, batch_size: int, processes: int = 1) -> int:
    """`max_steps` for `epochs` passes over a streamed split: a stream has no length, its info has.

    Each step takes a batch in each of `processes` processes, which stream disjoint parts of the split."""
    splits = split.info.splits
    if not splits or split.split not in splits:
        raise SystemExit(
            f"The dataset's info does not give the size of its {split.split} split: pass --max-steps, not --epochs."
        )
    return math.ceil(epochs * math.ceil(splits[split.split].num_examples / (batch_size * processes)))


def evaluate(model, test, names: list[str], batch_size: int) -> dict:
    """Accuracy on `test` (a stream of `pixel_values` and `labels`), overall and per class."""
    model.eval()
    predicted, labels = [], []
    with torch.inference_mode():
        for batch in test.with_format("numpy").iter(batch_size=batch_size):
            pixel_values = torch.from_numpy(batch["pixel_values"]).to(model.device, memory_format=torch.channels_last)
            predicted.append(model(pixel_values=pixel_values).logits.argmax(-1).cpu().numpy())
            labels.append(batch["labels"])
    predicted, labels = np.concatenate(predicted), np.concatenate(labels)
    per_class = {}
    for index, name in enumerate(names):
        of_class = labels == index
        per_class[name] = {"correct": int((predicted[of_class] == index).sum()), "examples": int(of_class.sum())}
    return {"accuracy": float((predicted == labels).mean()), "examples": len(labels), "per_class": per_class}


def print_report(metrics: dict) -> None:
    correct = sum(counts["correct"] for counts in metrics["per_class"].values())
    print(f"\nTest accuracy: {metrics['accuracy']:.4f} ({correct:,}/{metrics['examples']:,})\n")
    width = max(len(name) for name in metrics["per_class"])
    print(f"{'class':<{width}}  accuracy  correct/examples")
    for name, counts in metrics["per_class"].items():
        accuracy = f"{counts['correct'] / counts['examples']:.4f}" if counts["examples"] else "-"
        print(f"{name:<{width}}  {accuracy:>8}  {counts['correct']:>7,}/{counts['examples']:,}")


def main(argv=None) -> dict:
    args = parse_args(argv)
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun and accelerate launch
    dataset = load_dataset(args.dataset, streaming=True)
    # One shard per Parquet row group (datasets 5), so that each process and each DataLoader worker
    # streams its own rows, and the shuffle below draws row groups in a new order every epoch.
    train, test = dataset["train"].reshard(), dataset["test"]
    names = train.features["label"].names
    set_seed(args.seed)  # before the model's random weights are drawn
    model, image_processor = build_model(args.model, names)
    # Convolutions run about a quarter faster on CPU with channels last in memory.
    model = model.to(memory_format=torch.channels_last)

    transform = pixel_transform(image_processor)
    columns = list(train.features)
    # Fill the buffer from one shard at a time: interleaving shards makes datasets 5.2 wait 5 s after each
    # pass (a guard against a pyarrow shutdown issue), once per epoch.
    train = train.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer, max_buffer_input_shards=1)
    train = train.map(transform, batched=True, remove_columns=columns)
    test = test.map(transform, batched=True, remove_columns=columns)
    max_steps = args.max_steps or steps_for_epochs(dataset["train"], args.epochs, args.batch_size, processes)

    training_args = TrainingArguments(
        output_dir=args.output_dir,
        max_steps=max_steps,  # a stream has no length for Trainer to count epochs with
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=WEIGHT_DECAY,
        lr_scheduler_type="cosine",
        warmup_steps=WARMUP,
        logging_steps=args.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        dataloader_num_workers=args.num_workers,
        # Without a GPU (or other accelerator), Accelerate forms a group of the processes that torchrun
        # started only when told to run on the CPU; otherwise each process would train alone, on everything.
        use_cpu=not torch.accelerator.is_available(),
        # Each process reads its own shards of the stream. (By default the first process would read every
        # batch and send the other processes their slices.)
        accelerator_config={"dispatch_batches": False},
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=train)
    train_output = trainer.train()
    trainer.save_model()

    metrics = {
        "max_steps": max_steps,
        "train_runtime": train_output.metrics["train_runtime"],
        "losses": [(log["step"], log["loss"]) for log in trainer.state.log_history if "loss" in log],
    }
    if trainer.is_world_process_zero():
        metrics |= evaluate(model, test, names, args.batch_size)
        print_report(metrics)
    return metrics


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "dataset", nargs="?", default=DEFAULT_DATASET, help="load_dataset path or repo id (default: %(default)s)"
    )
    parser.add_argument("--model", help="pretrained checkpoint to fine-tune (default: a small RegNet from a config)")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="where the model is saved")
    parser.add_argument("--epochs", type=float, default=EPOCHS, help="converted to max_steps (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, help="training steps; overrides --epochs")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--shuffle-buffer", type=int, default=SHUFFLE_BUFFER, help="examples in the shuffle buffer")
    parser.add_argument("--logging-steps", type=int, default=LOGGING_STEPS)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=SEED)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
