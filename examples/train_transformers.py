"""Train a `transformers` image classifier on Fashion-MNIST, streamed with `datasets`.

    .venv-examples/bin/python examples/train_transformers.py                # the folder that tools.export wrote
    .venv-examples/bin/python examples/train_transformers.py DATASET        # a load_dataset path or Hub repo id
    .venv-examples/bin/python examples/train_transformers.py --model CKPT   # fine-tune pretrained weights (network)
    .venv-examples/bin/torchrun --nproc_per_node=2 examples/train_transformers.py   # 2 processes (docs/streaming.md)

(.venv-examples is the environment of examples/requirements.txt: torch, transformers, accelerate.)

The dataset is loaded with `streaming=True`, and nothing is written to the datasets cache. Without --model the
classifier is a small RegNet built from a config, with random weights, and it reads the `arrays` config (pixels as
uint8 arrays) whole batches at a time: `reshard()` makes one shard per Parquet row group, each epoch draws the
shards in a new order, each process and DataLoader worker reads its own share of them, and the rows of a window of
shards (--shuffle-buffer examples) are permuted and cut into batches, with no Python work per example. With
--model, the checkpoint's image processor wants PIL images: the default config's PNG images flow through a shuffle
buffer and a batched transform. Under `torchrun` (or `accelerate launch`) each process streams its own shards of
the training split. On CPU, each process runs torch on one thread unless OMP_NUM_THREADS says otherwise
(docs/training.md). After training, the first process evaluates on the test split and prints the accuracy and a
per-class accuracy table.
"""

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from datasets import load_dataset
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    RegNetConfig,
    RegNetForImageClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

# Where `python -m tools.export` writes the Hub-ready folder by default (tools.common.EXPORT_FOLDER), spelled out
# here: the example imports none of the repository's modules, so that a copy of it runs anywhere.
DEFAULT_DATASET = str(Path(__file__).resolve().parent.parent / "build" / "hub")
DEFAULT_OUTPUT_DIR = "build/train_transformers"
EPOCHS = 10
BATCH_SIZE = 128
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.05
WARMUP = 0.05  # fraction of the steps
SHUFFLE_BUFFER = 10_000
ARRAYS_CONFIG = "arrays"
READ_ROWS = 2500  # rows per Arrow table read from the stream: up to one Parquet row group of the arrays config
BATCHES_PER_BLOCK = 16
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


def image_transform(image_processor):
    """A function for `map(batched=True)` on the image config: PIL images and labels to `pixel_values` and `labels`."""

    def transform(batch):
        # Pretrained vision models expect three channels.
        images = [image.convert("RGB") for image in batch["image"]]
        pixel_values = image_processor(images, return_tensors="np")["pixel_values"]
        return {"pixel_values": pixel_values, "labels": batch["label"]}

    return transform


def table_arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images (n, 28, 28) and the labels of an Arrow table of the arrays config, with no step per row.

    An Array2D column is stored as lists of lists: flattening it twice is a view of its pixels, not a copy."""
    images = table["image"].combine_chunks()
    pixels = images.storage.flatten().flatten().to_numpy()
    return pixels.reshape(len(images), *images.type.shape), table["label"].to_numpy()


def batch_tensors(images: np.ndarray, labels: np.ndarray) -> dict:
    """A batch as tensors: uint8 `pixel_values` with a channel axis (a quarter of the bytes of float32 to send from
    a DataLoader worker or to a GPU), int64 `labels`."""
    pixel_values = torch.from_numpy(images[:, np.newaxis])
    return {"pixel_values": pixel_values, "labels": torch.from_numpy(labels.astype(np.int64))}


def normalize(pixel_values: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to the float32 the model takes, on their own device: scaled to [0, 1], then standardized."""
    return (pixel_values.float() / 255 - PIXEL_MEAN) / PIXEL_STD


class ShuffledBatches(torch.utils.data.IterableDataset):
    """Training batches from a stream of the arrays config, converted whole, in blocks of up to BATCHES_PER_BLOCK
    batches (a `BatchLoader` cuts them apart): a DataLoader worker sends a batch to its process at a fixed cost,
    which a block pays once.

    Each reader (a process, or a DataLoader worker of one) reads every n-th of the stream's shards (Parquet row
    groups after `reshard()`), in a new order each epoch. It permutes the rows of each `window` examples' worth of
    shards and cuts them into batches; the rows left over go into the next window."""

    def __init__(self, stream, batch_size: int, window: int, seed: int, rank: int = 0, world_size: int = 1):
        self.stream = stream.with_format("arrow")
        self.batch_size, self.window, self.seed = batch_size, window, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def readers(self) -> tuple[int, int]:
        """(this reader's index, the number of readers) over processes and DataLoader workers."""
        worker = torch.utils.data.get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        return self.rank * workers + worker_id, self.world_size * workers

    def __iter__(self):
        # Persistent DataLoader workers keep their own copy of the dataset, which `set_epoch` does not reach:
        # each pass counts itself.
        epoch, self.epoch = self.epoch, self.epoch + 1
        reader, readers = self.readers()
        num_shards = self.stream.num_shards
        rng = np.random.default_rng([self.seed, epoch, reader])
        shards = rng.permutation(np.arange(num_shards)[reader::readers])
        pending = []  # (images, labels) read and not yet batched
        for index in shards:
            pending += map(table_arrays, self.stream.shard(num_shards, index=int(index)).iter(batch_size=READ_ROWS))
            if sum(len(labels) for _, labels in pending) >= self.window:
                images, labels = (np.concatenate(arrays) for arrays in zip(*pending, strict=True))
                rest = yield from self.blocks(images, labels, rng, keep_rest=True)
                pending = [rest]
        if pending:
            images, labels = (np.concatenate(arrays) for arrays in zip(*pending, strict=True))
            yield from self.blocks(images, labels, rng, keep_rest=False)

    def blocks(self, images, labels, rng, keep_rest: bool):
        """Yields the rows in a random order, in blocks of batches; returns the rows short of a full batch if
        `keep_rest`."""
        order = rng.permutation(len(labels))
        end = len(order) - len(order) % self.batch_size if keep_rest else len(order)
        block = self.batch_size * BATCHES_PER_BLOCK
        for start in range(0, end, block):
            rows = order[start : min(start + block, end)]
            yield batch_tensors(images[rows], labels[rows])
        return images[order[end:]], labels[order[end:]]


class BatchLoader(torch.utils.data.DataLoader):
    """A DataLoader over `ShuffledBatches`: it cuts the blocks into batches, and tells the dataset the epoch, as
    `Trainer` does at the start of each. Its workers, if any, live from one epoch to the next: starting them
    costs about as much as they spend on an epoch (docs/streaming.md)."""

    def __init__(self, dataset: ShuffledBatches, num_workers: int = 0, **kwargs):
        persistent = num_workers > 0
        # batch_size=None: the dataset's items are blocks of batches.
        super().__init__(dataset, batch_size=None, num_workers=num_workers, persistent_workers=persistent, **kwargs)

    def __iter__(self):
        size = self.dataset.batch_size
        for block in super().__iter__():
            for start in range(0, len(block["labels"]), size):
                yield {name: tensor[start : start + size] for name, tensor in block.items()}

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


class BatchStreamTrainer(Trainer):
    """A `Trainer` whose training dataset yields whole batches of uint8 pixels, and reads its own share in each
    process. The pixels become floats where the model runs."""

    def get_train_dataloader(self):
        return BatchLoader(
            self.train_dataset,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
        )

    def _prepare_inputs(self, inputs):
        inputs = super()._prepare_inputs(inputs)
        return inputs | {"pixel_values": normalize(inputs["pixel_values"])}


def test_batches(test, image_processor, batch_size: int):
    """The test split as batches of `pixel_values` and `labels`."""
    if image_processor is None:
        for table in test.with_format("arrow").iter(batch_size=batch_size):
            images, labels = table_arrays(table)
            yield batch_tensors(images.copy(), labels)  # a view of Arrow's read-only memory: torch wants its own
    else:
        test = test.map(image_transform(image_processor), batched=True, remove_columns=list(test.features))
        for batch in test.with_format("numpy").iter(batch_size=batch_size):
            yield {name: torch.from_numpy(array) for name, array in batch.items()}


def steps_per_epoch(split, batch_size: int, processes: int = 1) -> int | None:
    """Steps in one pass over a streamed split, from the split size in its info (a stream has no length); None if
    the info does not give it.

    Each step takes a batch in each of `processes` processes, which stream disjoint parts of the split."""
    splits = split.info.splits
    if not splits or split.split not in splits:
        return None
    return math.ceil(splits[split.split].num_examples / (batch_size * processes))


def steps_for_epochs(split, epochs: float, batch_size: int, processes: int = 1) -> int:
    """`max_steps` for `epochs` passes over a streamed split."""
    steps = steps_per_epoch(split, batch_size, processes)
    if steps is None:
        raise SystemExit(
            f"The dataset's info does not give the size of its {split.split} split: pass --max-steps, not --epochs."
        )
    return math.ceil(epochs * steps)


class EpochCallback(TrainerCallback):
    """Sets the epoch that `Trainer` logs to the steps taken over the steps of one epoch (`steps_per_epoch`).

    Given a loader with no length (a stream), `Trainer` counts an epoch as `max_steps` steps: it logs the passes
    completed plus the steps of the current pass over `max_steps`, 0.096 after 450 of a 10-epoch run's 4,690 steps,
    1.007 after 500 and 9.1 at the end."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step_end(self, args, state, control, **kwargs):
        # Trainer sets state.epoch just before this call, and logs it just after.
        state.epoch = state.global_step / self.steps


def evaluate(model, batches, names: list[str]) -> dict:
    """Accuracy on `batches` of `pixel_values` and `labels`, overall and per class."""
    model.eval()
    predicted, labels = [], []
    with torch.inference_mode():
        for batch in batches:
            pixel_values = batch["pixel_values"].to(model.device)
            if pixel_values.dtype == torch.uint8:  # from the arrays config
                pixel_values = normalize(pixel_values)
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
            predicted.append(model(pixel_values=pixel_values).logits.argmax(-1).cpu().numpy())
            labels.append(batch["labels"].numpy())
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


def choose_threads() -> None:
    """On CPU, one torch thread per process unless OMP_NUM_THREADS is set (docs/training.md, "Threads")."""
    if "OMP_NUM_THREADS" not in os.environ and not torch.accelerator.is_available():
        torch.set_num_threads(1)


def main(argv=None) -> dict:
    args = parse_args(argv)
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun and accelerate launch
    rank = int(os.environ.get("RANK", "0"))
    choose_threads()
    # From scratch the model takes arrays; a checkpoint's image processor takes PIL images.
    if args.model is None:
        dataset = load_dataset(args.dataset, ARRAYS_CONFIG, streaming=True)
    else:
        dataset = load_dataset(args.dataset, streaming=True)
    # One shard per Parquet row group (datasets 5), so that each process and each DataLoader worker
    # streams its own rows, and each epoch draws the row groups in a new order.
    train, test = dataset["train"].reshard(), dataset["test"]
    names = train.features["label"].names
    set_seed(args.seed)  # before the model's random weights are drawn
    model, image_processor = build_model(args.model, names)
    # Convolutions run about a quarter faster on CPU with channels last in memory.
    model = model.to(memory_format=torch.channels_last)

    if image_processor is None:
        train = ShuffledBatches(train, args.batch_size, args.shuffle_buffer, args.seed, rank, processes)
        trainer_class = BatchStreamTrainer
    else:
        # Fill the buffer from one shard at a time: interleaving shards makes datasets 5.2 wait 5 s after each
        # pass (a guard against a pyarrow shutdown issue), once per epoch.
        train = train.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer, max_buffer_input_shards=1)
        train = train.map(image_transform(image_processor), batched=True, remove_columns=list(train.features))
        trainer_class = Trainer
    max_steps = args.max_steps or steps_for_epochs(dataset["train"], args.epochs, args.batch_size, processes)
    epoch_steps = steps_per_epoch(dataset["train"], args.batch_size, processes)

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
    # Without the split size the logged epoch stays Trainer's: see EpochCallback.
    callbacks = [EpochCallback(epoch_steps)] if epoch_steps else []
    trainer = trainer_class(model=model, args=training_args, train_dataset=train, callbacks=callbacks)
    train_output = trainer.train()
    trainer.save_model()

    metrics = {
        "max_steps": max_steps,
        "train_runtime": train_output.metrics["train_runtime"],
        "losses": [(log["step"], log["loss"]) for log in trainer.state.log_history if "loss" in log],
        "epochs": [(log["step"], log["epoch"]) for log in trainer.state.log_history if "loss" in log],
    }
    if trainer.is_world_process_zero():
        metrics |= evaluate(model, test_batches(test, image_processor, args.batch_size), names)
        print_report(metrics)
    # The processes end together. One that ended straight after its last read of the stream could still be tearing
    # down pyarrow's reader of it (on pyarrow's threads) as Python shuts down, which aborts the process
    # (docs/faults.md, "Streaming and interpreter exit"); the first process's evaluation leaves that time to finish.
    trainer.accelerator.wait_for_everyone()
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
    parser.add_argument(
        "--shuffle-buffer", type=int, default=SHUFFLE_BUFFER, help="examples shuffled together (default: %(default)s)"
    )
    parser.add_argument("--logging-steps", type=int, default=LOGGING_STEPS)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=SEED)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
