"""Label issues: the examples whose given label is likely wrong, found by confident learning (cleanlab).

    .venv-examples/bin/python -m examples.find_label_issues --data-dir ../shared/fashion-mnist

(.venv-examples is the environment of examples/requirements.txt: torch, cleanlab.)

A small convolutional network gives every one of the 70,000 examples predicted probabilities from models that
did not see it: FOLDS-fold cross-validation over the training split, and for the test split the mean of the
FOLDS fold models. cleanlab's `find_label_issues` flags the examples whose given label the probabilities
contradict, and `get_label_quality_scores` ranks them. The command prints each model's accuracy and the CPU time,
and writes label_probabilities.parquet (every example's probabilities), label_issues.csv and
images/label_issues.png; with --reuse it reads the probabilities file instead of training. With --flip-check N it
measures instead how well the same pipeline finds labels flipped on purpose among the first N training examples.
docs/label-issues.md explains the method and the numbers.
"""

import dataclasses
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from torch import nn

from tools import cli, common, paths
from tools import label_issues as li

SEED = 0
THREADS = 2
FOLDS = 3
EPOCHS = 30
# Training images are shifted at random by up to this many pixels in each direction (zero padding).
SHIFT = 2
BATCH_SIZE = 128
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
DROPOUT = 0.3
CHANNELS = (32, 64, 128)
HIDDEN = 128
EVAL_BATCH = 250
NUM_CLASSES = 10
# The flip check: this share of the examples gets a label drawn at random among the other classes.
FLIP_FRACTION = 0.02


def set_determinism(threads: int = THREADS) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def make_model() -> nn.Module:
    """Three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling (28 -> 14 -> 7 -> 3), then two linear
    layers."""
    layers, width = [], 1
    for channels in CHANNELS:
        layers += [nn.Conv2d(width, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        width = channels
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Dropout(DROPOUT),
        nn.Linear(width * 3 * 3, HIDDEN),
        nn.ReLU(),
        nn.Dropout(DROPOUT),
        nn.Linear(HIDDEN, NUM_CLASSES),
    )


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (n, 28, 28) as float32 (n, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A batch (n, 1, 28, 28), each image mirrored left-right at random and shifted at random by up to SHIFT pixels
    in each direction (the pixels shifted in are 0)."""
    n, side = len(x), x.shape[-1]
    mirrored = torch.rand(n, generator=generator) < 0.5
    x = torch.where(mirrored[:, None, None, None], x.flip(3), x)
    padded = nn.functional.pad(x[:, 0], (SHIFT, SHIFT, SHIFT, SHIFT))
    rows, columns = (torch.randint(0, 2 * SHIFT + 1, (n, 1), generator=generator) + torch.arange(side) for _ in "yx")
    return padded[torch.arange(n)[:, None, None], rows[:, :, None], columns[:, None, :]].unsqueeze(1)


def train(images: np.ndarray, labels: np.ndarray, seed: int, epochs: int = EPOCHS) -> nn.Module:
    """A model trained from scratch: AdamW with a one-cycle learning rate, random mirroring and shifts."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = make_model()
    x, y = as_tensor(images), torch.from_numpy(labels.astype(np.int64))
    steps_per_epoch = -(-len(x) // BATCH_SIZE)
    optimizer = torch.optim.AdamW(model.parameters(), LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(augment(x[batch], generator)), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Predicted probabilities (n, 10), float32: the mean over each image and its mirror image, as in training."""
    x = as_tensor(images)
    batches = (x[i : i + EVAL_BATCH] for i in range(0, len(x), EVAL_BATCH))
    return np.concatenate([((model(b).softmax(1) + model(b.flip(3)).softmax(1)) / 2).numpy() for b in batches])


def cpu_seconds() -> float:
    """User and system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fold_of(num_examples: int, folds: int, seed: int) -> np.ndarray:
    """Each example's fold: a seeded permutation, dealt round-robin."""
    return np.random.default_rng(seed).permutation(num_examples) % folds


@dataclasses.dataclass
class Run:
    """Out-of-sample probabilities of the training examples (`train`) and, if any, of the test examples
    (`test`); the accuracy of each fold's model on its held-out fold and on the test split, and its CPU seconds."""

    train: np.ndarray
    test: np.ndarray | None
    fold_accuracy: list[float]
    test_accuracy: list[float]
    cpu: list[float]


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(1) == labels).mean())


def out_of_sample(
    train_images, train_labels, test_images=None, test_labels=None, folds=FOLDS, epochs=EPOCHS, seed=SEED, log=None
) -> Run:
    """Probabilities of each training example from the model of the fold that left it out and, with test images,
    of each test example the mean of the fold models' probabilities: no model sees the examples it gives
    probabilities for, and no model is trained twice."""
    fold = fold_of(len(train_labels), folds, seed)
    run = Run(np.zeros((len(train_labels), NUM_CLASSES), np.float32), None, [], [], [])
    test_sum = None if test_images is None else np.zeros((len(test_images), NUM_CLASSES), np.float64)
    for k in range(folds):
        start = cpu_seconds()
        held_out = fold == k
        model = train(train_images[~held_out], train_labels[~held_out], seed + k, epochs)
        run.train[held_out] = predict(model, train_images[held_out])
        run.fold_accuracy.append(accuracy(run.train[held_out], train_labels[held_out]))
        note = f"fold {k + 1} of {folds}: held-out accuracy {run.fold_accuracy[-1]:.4f}"
        if test_sum is not None:
            test_probabilities = predict(model, test_images)
            test_sum += test_probabilities
            run.test_accuracy.append(accuracy(test_probabilities, test_labels))
            note += f", test accuracy {run.test_accuracy[-1]:.4f}"
        run.cpu.append(cpu_seconds() - start)
        if log:
            log(f"{note}, {run.cpu[-1]:.0f} s CPU")
    if test_sum is not None:
        run.test = (test_sum / folds).astype(np.float32)
    return run


def rank(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flagged, scores): cleanlab's label issues (confident learning, its default pruning by noise rate) and
    its label quality scores (self-confidence: the probability of the given label)."""
    flagged = find_label_issues(labels, probabilities, n_jobs=1)
    return flagged, get_label_quality_scores(labels, probabilities)


def candidates_of(split: str, labels: np.ndarray, probabilities: np.ndarray) -> list[li.Candidate]:
    flagged, scores = rank(labels, probabilities)
    likely = probabilities.argmax(1)
    return [
        li.Candidate(split, int(i), int(labels[i]), int(likely[i]), float(scores[i]))
        for i in np.flatnonzero(flagged & (likely != labels))
    ]


def flip_labels(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, flipped): `fraction` of the examples, drawn at random, get a label drawn at random among the
    other classes."""
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), bool)
    flipped[rng.choice(len(labels), round(fraction * len(labels)), replace=False)] = True
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, NUM_CLASSES, flipped.sum())) % NUM_CLASSES
    return noisy, flipped


def flip_check(images, labels, folds=FOLDS, epochs=EPOCHS, seed=SEED, log=None) -> dict:
    """Flip FLIP_FRACTION of `labels`, find the label issues by cross-validation over `images`, and compare:
    precision (flagged examples that were flipped) and recall (flipped examples that were flagged)."""
    noisy, flipped = flip_labels(labels, FLIP_FRACTION, seed)
    run = out_of_sample(images, noisy, folds=folds, epochs=epochs, seed=seed, log=log)
    flagged = np.zeros(len(labels), bool)
    flagged[[c.index for c in candidates_of("train", noisy, run.train)]] = True
    found = int((flagged & flipped).sum())
    return {
        "examples": len(labels),
        "flipped": int(flipped.sum()),
        "flagged": int(flagged.sum()),
        "flipped and flagged": found,
        "precision": found / max(int(flagged.sum()), 1),
        "recall": found / int(flipped.sum()),
        "cpu seconds": sum(run.cpu),
    }


# Command line.


def check_output_file(path: str | Path, option: str) -> Path:
    """Where to write the file that `option` names: `UserError` unless it is a file or nothing, in a folder
    that exists and can be written. A symbolic link is followed: its target is the file written."""
    if str(path) == "":
        raise cli.UserError(f"{option} is empty; it must name the file to write")
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise cli.UserError(f"{option} {path} is a folder; it must name the file to write")
    if target.exists() and not target.is_file():
        raise cli.UserError(f"{option} {path} is not a regular file; it must name the file to write")
    folder, what = target.parent, f"{option} {path}"
    if not folder.exists():
        raise cli.UserError(f"{what}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise cli.UserError(f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise cli.UserError(f"{what}: the folder {folder} cannot be written")
    return target


def main(argv=None) -> int:
    parser = cli.ArgumentParser(__doc__, data_dir=True)
    parser.add_argument(
        "--probabilities", default=str(li.PROBABILITIES_FILE), help="the Parquet file of out-of-sample probabilities"
    )
    parser.add_argument("--reuse", action="store_true", help="read --probabilities instead of training")
    parser.add_argument("--issues-out", default=str(li.ISSUES_FILE), help="CSV file to write")
    parser.add_argument("--picture-out", default=str(li.PICTURE), help="PNG file to write")
    parser.add_argument(
        "--flip-check", type=int, metavar="N", help="measure the pipeline on the first N training examples instead"
    )
    args = parser.parse_args(argv)
    return cli.run("examples.find_label_issues", lambda: run(args), debug=args.debug)


def run(args) -> None:
    set_determinism()
    if args.flip_check is not None:
        if not 2 * FOLDS <= args.flip_check <= 60_000:
            raise cli.UserError(f"--flip-check {args.flip_check}: give a number of examples from {2 * FOLDS} to 60000")
        images, labels = common.load_official(paths.check_data_dir(args.data_dir))["train"]
        result = flip_check(images[: args.flip_check], labels[: args.flip_check], log=cli.log)
        print(
            "\n".join(
                f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}"
                for name, value in result.items()
            )
        )
        return
    probabilities_path = Path(args.probabilities)
    if args.reuse and not probabilities_path.is_file():
        raise cli.UserError(f"--reuse: --probabilities {args.probabilities} is not a file; run once without --reuse")
    outputs = {"--issues-out": args.issues_out, "--picture-out": args.picture_out}
    if not args.reuse:
        outputs["--probabilities"] = args.probabilities
    checked = {option: check_output_file(path, option) for option, path in outputs.items()}
    # With --reuse the probabilities file is read, not written: no output may replace it either.
    files = {**checked, "--probabilities": probabilities_path.resolve()}
    if len(set(files.values())) < len(files):
        named = {**outputs, "--probabilities": args.probabilities}
        raise cli.UserError(f"{' and '.join(f'{o} {p}' for o, p in named.items())}: give a different file to each")
    data_dir = paths.check_data_dir(args.data_dir)
    splits = common.load_official(data_dir)
    if args.reuse:
        probabilities = load_probabilities(probabilities_path, splits)
    else:
        (train_images, train_labels), (test_images, test_labels) = splits["train"], splits["test"]
        start, wall = cpu_seconds(), time.perf_counter()
        result = out_of_sample(train_images, train_labels, test_images, test_labels, log=cli.log)
        cpu, wall = cpu_seconds() - start, time.perf_counter() - wall
        print(f"Training: {cpu:.0f} s CPU, {wall:.0f} s wall, {THREADS} threads")
        for k, fold_accuracy in enumerate(result.fold_accuracy):
            print(f"  fold {k + 1}: held-out accuracy {fold_accuracy:.4f}, test accuracy {result.test_accuracy[k]:.4f}")
        print(f"  all folds: out-of-sample accuracy {accuracy(result.train, train_labels):.4f}")
        print(f"  mean of the fold models: test accuracy {accuracy(result.test, test_labels):.4f}")
        probabilities = {"train": result.train, "test": result.test}
    candidates = []
    for split in li.SPLIT_ORDER:
        candidates += candidates_of(split, splits[split][1], probabilities[split])
    num_examples = {split: len(labels) for split, (_, labels) in splits.items()}
    print(f"\nCandidates:\n\n{li.counts_table(candidates, num_examples)}")
    print(f"\nMost common given -> likely labels:\n\n{li.common_pairs_table(candidates)}\n")
    files = {
        checked["--issues-out"]: li.csv_text(candidates).encode("utf-8"),
        checked["--picture-out"]: li.picture_bytes(splits, candidates),
    }
    if not args.reuse:
        labels = {split: splits[split][1] for split in li.SPLIT_ORDER}
        files[checked["--probabilities"]] = li.probabilities_bytes(labels, probabilities)
    paths.write_files(files)
    print(f"Wrote {', '.join(str(path) for path in outputs.values())}")


def load_probabilities(path: Path, splits: dict) -> dict[str, np.ndarray]:
    """The saved probabilities; `UserError` unless the file holds the given labels of each split and one row of
    NUM_CLASSES probabilities per example."""
    try:
        labels, probabilities = li.read_probabilities(path)
    except (OSError, ValueError) as error:
        raise cli.UserError(f"--probabilities {path} is not a file this command wrote: {error}") from error
    for split, array in probabilities.items():
        expected = (len(splits[split][1]), NUM_CLASSES)
        if array.shape != expected:
            raise cli.UserError(f"--probabilities {path}: {split} has shape {array.shape}, not {expected}")
        if not np.array_equal(labels[split], splits[split][1]):
            raise cli.UserError(f"--probabilities {path}: its {split} labels are not the archives' labels")
    return probabilities


if __name__ == "__main__":
    sys.exit(main())
