"""Storage of the train split: PNG encodings against Parquet codecs, and the arrays config.

    .venv/bin/python -m benchmarks.storage                      # the archives in ../shared/fashion-mnist
    .venv/bin/python -m benchmarks.storage --data-dir FOLDER

For each PNG encoding: CPU time to encode an image, the PNG bytes, Pillow's CPU time to decode one (the best of
3 passes over 10,000 images), and the bytes of the 8 train files that tools.export would write with each image
codec (its column options otherwise: 500-row groups, content-defined chunking, page index, statistics). Then the
same for the images as (28, 28) uint8 arrays (the `arrays` config). That every encoding decodes to the archive's
pixels is tested (tests/test_reading_paths.py). The figures: docs/benchmark.md ("Storage: encoding and compression").
"""

import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

import datasets
import numpy as np
import PIL.Image

import fashion_mnist as fm
from tools import cli, common, parquet, paths

DECODED_IMAGES = 10_000
CODECS = (("none", None, 500), ("zstd", 9, 500), ("zstd", 19, 500), ("zstd", 19, 1000))


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def unfiltered_rle(images):
    """The builder's encoding before Pillow's stored PNGs: unfiltered rows, deflated with run-length matching only."""
    header = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
    for rows in np.pad(images, ((0, 0), (0, 0), (1, 0))):
        compressor = zlib.compressobj(strategy=zlib.Z_RLE)
        yield header + chunk(b"IDAT", compressor.compress(rows.tobytes()) + compressor.flush()) + chunk(b"IEND", b"")


def pillow_default(images):
    for image in images:
        buffer = io.BytesIO()
        PIL.Image.fromarray(image).save(buffer, format="PNG")
        yield buffer.getvalue()


ENCODINGS = {
    "unfiltered, Z_RLE (the builder before)": unfiltered_rle,
    "Pillow's default (adaptive filters, level 6)": pillow_default,
    "Pillow, deflate level 0 (stored): this builder": fm.encode_pngs,
}


def arrays_dataset(images: np.ndarray, labels: np.ndarray) -> datasets.Dataset:
    """The split as the `arrays` config holds it."""
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=fm.features(arrays=True))


def decode_microseconds(pngs: list[bytes]) -> float:
    best = float("inf")
    for _ in range(3):
        start = cpu_seconds()
        for png in pngs[:DECODED_IMAGES]:
            with PIL.Image.open(io.BytesIO(png)) as image:
                image.load()
        best = min(best, cpu_seconds() - start)
    return best / min(len(pngs), DECODED_IMAGES) * 1e6


def parquet_bytes(dataset: datasets.Dataset, codec: str, level, row_group: int, folder: Path) -> int:
    """Bytes of the 8 files that the export writes for `dataset`, with `codec` for the image column."""
    options = parquet.column_options(dataset.features)
    for column in options["compression_level"]:
        options["compression"][column] = codec
        options["compression_level"][column] = level
    if level is None:
        options.pop("compression_level")
    variant = folder / f"{codec}-{level}-{row_group}"
    variant.mkdir()
    names = parquet.write_split(dataset, variant, "train", options, row_group)
    return sum((variant / name).stat().st_size for name in names)


def codec_table(dataset: datasets.Dataset, folder: Path) -> list[str]:
    lines = []
    for codec, level, row_group in CODECS:
        start = cpu_seconds()
        size = parquet_bytes(dataset, codec, level, row_group, folder)
        name = codec if level is None else f"{codec} {level}"
        lines.append(
            f"    {name:<8} {row_group:>5}-row groups  {size:>12,} bytes  written in {cpu_seconds() - start:5.1f} s CPU"
        )
    return lines


def run(data_dir: Path) -> None:
    images, labels = common.load_official(paths.check_data_dir(data_dir))["train"]
    print(f"train split: {len(labels):,} images; bytes of its 8 Parquet files per image codec")
    with tempfile.TemporaryDirectory() as work:
        for name, encode in ENCODINGS.items():
            start = cpu_seconds()
            pngs = list(encode(images))
            encoded = (cpu_seconds() - start) / len(pngs) * 1e6
            rows = {"image": [{"bytes": png, "path": None} for png in pngs], "label": labels.tolist()}
            dataset = datasets.Dataset.from_dict(rows, features=fm.features())
            print(f"  {name}: encode {encoded:.1f} µs, {sum(map(len, pngs)) / len(pngs):.1f} bytes per PNG, "
                  f"Pillow decode {decode_microseconds(pngs):.1f} µs")  # fmt: skip
            print("\n".join(codec_table(dataset, Path(work))))
        arrays = arrays_dataset(images, labels)
        print("  (28, 28) uint8 arrays (the arrays config):")
        print("\n".join(codec_table(arrays, Path(work))))


def main(argv=None) -> int:
    parser = cli.ArgumentParser(__doc__, data_dir=True)
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    return cli.run("benchmarks.storage", lambda: run(Path(args.data_dir)), debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
