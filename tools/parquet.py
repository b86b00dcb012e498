"""Writing a split as the export's Parquet files: FILES_PER_SPLIT consecutive parts, each named by its content
(tools.layout.parquet_name), written the same way every time so that the same archives give the same bytes.

The files hold no column statistics and no page index. Readers trust both without checking them (a filter skips a
row group by its min/max; docs/faults.md), and they would buy nothing here: every row group holds all ten classes,
so no label filter can skip one. What a file does not hold cannot lie.
"""

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from tools import layout

# The codec of the image column, which datasets' own writer leaves uncompressed when it holds PNG files. Chosen
# from the sizes and decoding times in docs/benchmark.md ("Storage: encoding and compression").
IMAGE_COMPRESSION = "zstd"
IMAGE_COMPRESSION_LEVEL = 19
# The Parquet leaf columns of each image feature: PNG files (bytes, and a path that is always null), or arrays.
IMAGE_LEAVES = {"Image": ["image.bytes", "image.path"], "Array2D": ["image.list.item.list.item"]}
# Content-defined chunking as datasets 5 writes it (its DEFAULT_CDC_OPTIONS), fixed here for reproducible files.
CHUNKING = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}


def write_split(
    split: datasets.Dataset, folder: Path, split_name: str, options: dict | None = None, rows: int | None = None
) -> list[str]:
    """Write `split` into `folder` as FILES_PER_SPLIT consecutive parts, in order; return their names. `options` and
    `rows` replace the column options and the row group size (benchmarks.storage compares others)."""
    names = []
    for index in range(layout.FILES_PER_SPLIT):
        part = split.shard(num_shards=layout.FILES_PER_SPLIT, index=index, contiguous=True)
        data = parquet_bytes(part, options, rows)
        names.append(layout.parquet_name(split_name, index, data))
        (Path(folder) / names[-1]).write_bytes(data)
    return names


def parquet_bytes(dataset: datasets.Dataset, options: dict | None = None, rows: int | None = None) -> bytes:
    """`dataset` as a Parquet file, written as `Dataset.to_parquet` does (content-defined chunking, the features in
    the `huggingface` schema metadata) but with no statistics or page index, the column options of `column_options`
    and row groups of `row_group_size` unless `options` and `rows` say otherwise."""
    options = column_options(dataset.features) if options is None else options
    rows = row_group_size(dataset.features) if rows is None else rows
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink,
        dataset.features.arrow_schema,
        use_content_defined_chunking=CHUNKING,
        write_statistics=False,
        write_page_index=False,
        # Nested lists (the arrays config) with the `item` field names that `datasets` gives them: pyarrow 10, the
        # oldest with Python 3.11 wheels, refuses Array2D columns whose lists are named `element` (the default).
        use_compliant_nested_type=False,
        **options,
    ) as writer:
        for batch in dataset.with_format("arrow").iter(batch_size=rows):
            writer.write_table(batch)
        writer.add_key_value_metadata({"content_defined_chunking": json.dumps(CHUNKING)})
    return sink.getvalue().to_pybytes()


def row_group_size(features: datasets.Features) -> int:
    """Rows per Parquet row group: ARRAYS_ROW_GROUP_SIZE for pixels as arrays, else ROW_GROUP_SIZE."""
    arrays = isinstance(features.get("image"), datasets.Array2D)
    return layout.ARRAYS_ROW_GROUP_SIZE if arrays else layout.ROW_GROUP_SIZE


def column_options(features: datasets.Features) -> dict:
    """The ParquetWriter options of each column: datasets' (PNG bytes stored plain, other columns, labels and pixels
    dictionary-encoded, the columns besides the image compressed with snappy), and the image column, if any,
    compressed with IMAGE_COMPRESSION."""
    image = features.get("image")
    image_leaves = IMAGE_LEAVES[type(image).__name__] if image is not None else []
    png = isinstance(image, datasets.Image)
    others = [name for name in features if name != "image"]  # flat columns: the label
    return {
        "compression": {**dict.fromkeys(image_leaves, IMAGE_COMPRESSION), **dict.fromkeys(others, "snappy")},
        "compression_level": dict.fromkeys(image_leaves, IMAGE_COMPRESSION_LEVEL),
        "use_dictionary": others if png else [*image_leaves, *others],
        "column_encoding": dict.fromkeys(image_leaves, "PLAIN") if png else {},
    }
