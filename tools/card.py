"""The export's card and the files it links to: the repository's card (README.md) as the Hub shows it, with
`dataset_info` and `configs` describing the Parquet files beside it, and the documents of docs/ for Hub visitors.

The sizes in `dataset_info` are the ones the Hub's dataset viewer computes from the Parquet footers, so that the
dataset page and the card agree (`fill_builder_info` in huggingface/dataset-viewer, `config-parquet-and-info`, read at
f62009e0): a split's `num_bytes` is the sum of its row groups' `total_byte_size`, a config's `download_size` the bytes
of its files, its `dataset_size` the sum of its splits' `num_bytes`.
"""

import re
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

import fashion_mnist as fm
from tools import layout
from tools.common import REPO

CARD = REPO / "README.md"
# Under the title of each document of docs/ on the Hub: where the code it names is, and where its commands run.
HUB_DOCUMENT_NOTE = (
    "> On the Hub, this repository's `main` branch holds the export: the Parquet files, the card and these pages, "
    "as `tools/export.py` writes them. The code that this page names (builder, tools, tests, examples, benchmarks) is "
    "the source tree that built the export, in the repository's `script` branch. Its commands run in a Git clone of "
    "that branch (`git clone --branch script` and this repository's URL), with the official archives beside it: "
    "[the source tree on the Hub](development.md#the-source-tree-on-the-hub)."
)
# Card text between these marker lines is for the repository only (setup commands): the Hub card leaves it out.
REPO_ONLY = re.compile(r"^<!-- repo-only -->\n.*?^<!-- /repo-only -->\n\n?", re.MULTILINE | re.DOTALL)


def hub_text(text: str) -> str:
    """The card's markdown as the Hub shows it: without the repository-only parts."""
    return REPO_ONLY.sub("", text)


def hub_document(text: str) -> str:
    """A document of docs/ as the Hub shows it: without its repository-only parts, and with a note under its title
    and links that says where its commands run."""
    title, links, rest = hub_text(text).split("\n\n", 2)
    return "\n\n".join([title, links, HUB_DOCUMENT_NOTE, rest])


def linked_files() -> dict[str, bytes]:
    """The bytes of each file that the card links to (CARD_FILES), as the export writes them: the documents of docs/
    as the Hub shows them, the other files as the repository holds them."""
    files = {}
    for name in layout.CARD_FILES:
        data = (REPO / name).read_bytes()
        files[name] = hub_document(data.decode("utf-8")).encode("utf-8") if name.startswith("docs/") else data
    return files


def config_info(folder: Path, config: str) -> datasets.DatasetInfo:
    """The `dataset_info` of `config` as the Hub computes it from the Parquet files in `folder`."""
    info = datasets.DatasetInfo(features=fm.features(arrays=config == "arrays"), config_name=config)
    info.splits, info.download_size, info.dataset_size = datasets.SplitDict(), 0, 0
    for split in layout.SPLITS:
        paths = layout.parquet_files(folder, config, split)
        footers = [pq.ParquetFile(path).metadata for path in paths]
        num_examples = sum(footer.num_rows for footer in footers)
        num_bytes = sum(f.row_group(i).total_byte_size for f in footers for i in range(f.num_row_groups))
        info.splits.add(datasets.SplitInfo(split, num_bytes=num_bytes, num_examples=num_examples))
        info.download_size += sum(path.stat().st_size for path in paths)
        info.dataset_size += num_bytes
    return info


def render(folder: Path, sample: bool) -> str:
    """The card of the export in `folder`: the repository's card without its repository-only parts, its YAML
    `dataset_info` and `configs` describing the Parquet files in `folder`; the sample warning on top for a sample."""
    card = DatasetCard(CARD.read_text(encoding="utf-8"))
    card.text = hub_text(card.text)
    infos = {config: config_info(folder, config) for config in layout.DATA_FOLDERS}
    DatasetInfosDict(infos).to_dataset_card_data(card.data)
    card.data["configs"] = layout.CONFIGS
    if sample:
        card.text = layout.SAMPLE_WARNING + "\n\n" + card.text.lstrip("\n")
    return str(card)
