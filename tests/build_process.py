"""A build, or a Hub export, in a process of its own, for the interruption and concurrency tests.

    .venv/bin/python -m tests.build_process CACHE_DIR [--config sample] [--data-dir D] [--base-url URL]...
        [--num-proc N] [--shard-size N] [--writer-batch-size N]
        [--ready FILE --go FILE] [--pause SECONDS]
        [--stop-at SPLIT:INDEX | --stop-after-parquet N] --stopped FILE
        [--export OUT]

--ready/--go: touch FILE ready, then wait for FILE go before building, so that two processes start at once.
--pause: sleep this long before generating each split, so that concurrent builds overlap.
--stop-at: once example INDEX of SPLIT is generated, touch --stopped and sleep until killed.
--stop-after-parquet: with --export, once N Parquet files are made, touch --stopped and sleep.
--export: run the command `tools.export --out OUT` (with the cache, config, data dir and processes given), with
the hooks above, instead of only building; exit with its exit code.

Prints one JSON line: for each split, its row count and a SHA-256 over its labels and PNG bytes (for --export:
{"exit": CODE}).
"""

import argparse
import hashlib
import json
import time
from pathlib import Path

import datasets

import fashion_mnist as fm


def stop(flag: str):
    Path(flag).touch()
    time.sleep(600)  # until the test kills this process
    raise SystemExit("not killed")


def split_digest(split: datasets.Dataset) -> str:
    digest = hashlib.sha256()
    for row in split.cast_column("image", datasets.Image(decode=False)):
        digest.update(row["label"].to_bytes(1, "big"))
        digest.update(row["image"]["bytes"])
    return digest.hexdigest()


def install_hooks(args) -> None:
    generate = fm.FashionMnist._generate_examples
    stop_split, stop_index = None, None
    if args.stop_at:
        stop_split, _, stop_key = args.stop_at.partition(":")
        stop_index = int(stop_key)

    def hooked(self, split, **kwargs):
        time.sleep(args.pause)
        for index, example in generate(self, split, **kwargs):
            yield index, example
            if split == stop_split and index == stop_index:
                stop(args.stopped)

    fm.FashionMnist._generate_examples = hooked

    if args.stop_after_parquet:
        from tools import parquet

        parquet_bytes = parquet.parquet_bytes
        written = []

        def hooked_parquet_bytes(dataset, *choices):
            written.append(parquet_bytes(dataset, *choices))
            if len(written) == args.stop_after_parquet:
                stop(args.stopped)
            return written[-1]

        parquet.parquet_bytes = hooked_parquet_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cache_dir")
    parser.add_argument("--config", default="sample")
    parser.add_argument("--data-dir")
    parser.add_argument("--base-url", action="append")
    parser.add_argument("--num-proc", type=int)
    parser.add_argument("--shard-size", type=int)
    parser.add_argument("--writer-batch-size", type=int)
    parser.add_argument("--ready")
    parser.add_argument("--go")
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--stop-at")
    parser.add_argument("--stop-after-parquet", type=int)
    parser.add_argument("--stopped")
    parser.add_argument("--export", type=Path)
    args = parser.parse_args()

    install_hooks(args)
    if args.shard_size:
        fm.SHARD_SIZE = args.shard_size
    if args.ready:
        Path(args.ready).touch()
        while not Path(args.go).exists():
            time.sleep(0.01)

    if args.export:
        from tools import export

        command = ["--out", str(args.export), "--cache-dir", args.cache_dir]
        command += ["--sample"] if args.config == "sample" else []
        command += ["--data-dir", args.data_dir] if args.data_dir else []
        command += [f"--base-url={url}" for url in args.base_url or ()]
        command += ["--num-proc", str(args.num_proc)] if args.num_proc else []
        code = export.main(command)
        print(json.dumps({"exit": code}))
        raise SystemExit(code)
    else:
        kwargs = {"base_urls": tuple(args.base_url)} if args.base_url else {}
        builder = fm.FashionMnist(
            cache_dir=args.cache_dir,
            config_name=args.config,
            data_dir=args.data_dir,
            writer_batch_size=args.writer_batch_size,
            **kwargs,
        )
        builder.download_and_prepare(num_proc=args.num_proc)
    splits = builder.as_dataset()
    print(json.dumps({name: [split.num_rows, split_digest(split)] for name, split in sorted(splits.items())}))


if __name__ == "__main__":
    main()
