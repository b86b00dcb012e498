"""Cut the bundled sample archives (dummy/) from the official ones.

    .venv/bin/python -m tools.make_sample --data-dir ../shared/fashion-mnist

Writes the first examples of each split, repacked in the official IDX gzip format, and prints the
size and SHA-256 of each file for SAMPLE_SPLITS in fashion_mnist.py.
"""

import argparse
import hashlib
from pathlib import Path

import fashion_mnist as fm
from tools.idx import gzip_bytes, idx_bytes

REPO = Path(__file__).resolve().parent.parent


def sample_archives(data_dir: Path) -> dict[str, bytes]:
    """File name -> bytes of each sample archive, cut from the verified official archives."""
    archives = {}
    for official, sample in zip(fm.OFFICIAL_SPLITS, fm.SAMPLE_SPLITS, strict=True):
        images_gz = fm.read_verified(official.images, (str(data_dir / official.images.filename),))
        labels_gz = fm.read_verified(official.labels, (str(data_dir / official.labels.filename),))
        images, labels = fm.read_split(images_gz, labels_gz, official)
        archives[sample.images.filename] = gzip_bytes(idx_bytes(images[: sample.num_examples]))
        archives[sample.labels.filename] = gzip_bytes(idx_bytes(labels[: sample.num_examples]))
    return archives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "fashion-mnist")
    parser.add_argument("--out", type=Path, default=REPO / fm.SAMPLE_DIR)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in sample_archives(args.data_dir).items():
        (args.out / name).write_bytes(data)
        print(f'Archive("{name}", {len(data):_}, "{hashlib.sha256(data).hexdigest()}")')


if __name__ == "__main__":
    main()
