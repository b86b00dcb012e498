"""What a real build of the official archives gives: dataset_infos.json (for each config: features, split sizes, byte
counts, the archives' sizes and SHA-256) and the `dataset_info`/`configs` block of README.md, as the export writes
them. tools.regenerate writes them with every other generated file, and tests/test_regenerate.py compares.
"""

import json
import tempfile
from pathlib import Path

from datasets.utils.py_utils import asdict
from huggingface_hub import DatasetCard

import fashion_mnist as fm
from tools.build import build_configs
from tools.card import CARD
from tools.common import REPO
from tools.export import write_folder

INFOS = REPO / "dataset_infos.json"


def download_checksums() -> dict:
    """The official archives' sizes and SHA-256, keyed by their URL on the first host."""
    return {
        fm.BASE_URLS[0] + archive.filename: {"num_bytes": archive.num_bytes, "checksum": archive.sha256}
        for split in fm.OFFICIAL_SPLITS
        for archive in (split.images, split.labels)
    }


def recorded_info(builder) -> dict:
    info = builder.info.copy()
    info.download_checksums = download_checksums()
    recorded = asdict(info)
    for split in recorded["splits"].values():
        # How many processes wrote a split is a detail of one build, not a fact about the data.
        split.pop("shard_lengths", None)
        split.pop("original_shard_lengths", None)
    return recorded


def infos_json(builders) -> str:
    """dataset_infos.json for the prepared builders of each config, in the order given."""
    return json.dumps({builder.config.name: recorded_info(builder) for builder in builders}, indent=2) + "\n"


def recorded_card(export_folder: Path) -> str:
    """The repository's card as it is, repository-only parts included, with the YAML of the export's card."""
    card = DatasetCard.load(CARD)
    card.data = DatasetCard.load(Path(export_folder) / "README.md").data
    return str(card)


def recorded(data_dir, builders=None, export_folder=None) -> tuple[str, str]:
    """(dataset_infos.json, the card with its YAML) of a build and export of both configs from the archives in
    `data_dir`, in a temporary folder; or of the given `builders` and their `export_folder`."""
    if builders is not None:
        return infos_json(builders.values()), recorded_card(export_folder)
    with tempfile.TemporaryDirectory() as folder:
        builders = build_configs(data_dir=str(data_dir), cache_dir=Path(folder) / "cache")
        return recorded(data_dir, builders, write_folder(builders, Path(folder) / "hub"))
