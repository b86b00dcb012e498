"""fashion_mnist.py as a loading script on datasets 3.6, with and without streaming.

Run in the venv of legacy/requirements.txt: .venv-legacy/bin/python -m pytest legacy
"""

import shutil
import subprocess

import datasets
import numpy as np
import pytest

from tests.archives import archive_arrays, dataset_arrays
from tests.fixtures import REPO, SAMPLE_DIR
from tools.publish import source_files

SCRIPT = str(REPO / "fashion_mnist.py")


def test_this_is_the_legacy_datasets():
    assert datasets.__version__.startswith("3."), "run legacy/ in the venv of legacy/requirements.txt"


def assert_equals_archives(rows_by_split, folder, splits=("train", "test")):
    for split in splits:
        expected_images, expected_labels = archive_arrays(folder, split)
        images, labels = rows_by_split[split]
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(images, expected_images)


def streamed_arrays(split):
    rows = list(split)
    return np.stack([np.asarray(row["image"]) for row in rows]), np.array([row["label"] for row in rows], np.uint8)


def test_sample_config_loads(tmp_path):
    loaded = datasets.load_dataset(SCRIPT, "sample", trust_remote_code=True, cache_dir=str(tmp_path))
    assert loaded["train"].features["label"].names[0] == "T - shirt / top"
    assert_equals_archives({split: dataset_arrays(loaded[split]) for split in loaded}, SAMPLE_DIR)


def test_sample_config_streams():
    loaded = datasets.load_dataset(SCRIPT, "sample", trust_remote_code=True, streaming=True)
    assert_equals_archives({split: streamed_arrays(loaded[split]) for split in loaded}, SAMPLE_DIR)


@pytest.mark.parametrize("num_proc", [None, 2])
def test_official_archives_download_from_the_host(official_server, official_dir, tmp_path, num_proc):
    loaded = datasets.load_dataset(
        SCRIPT, trust_remote_code=True, cache_dir=str(tmp_path), base_urls=(official_server,), num_proc=num_proc
    )
    assert {split: loaded[split].num_rows for split in loaded} == {"train": 60_000, "test": 10_000}
    assert_equals_archives({split: dataset_arrays(loaded[split]) for split in loaded}, official_dir)


def test_official_archives_stream_from_the_host(official_server, official_dir):
    loaded = datasets.load_dataset(SCRIPT, trust_remote_code=True, streaming=True, base_urls=(official_server,))
    assert_equals_archives({"test": streamed_arrays(loaded["test"])}, official_dir, splits=["test"])
    first_train = next(iter(loaded["train"]))
    assert first_train["label"] == archive_arrays(official_dir, "train")[1][0]


def test_official_archives_from_data_dir(official_dir, tmp_path):
    loaded = datasets.load_dataset(SCRIPT, trust_remote_code=True, data_dir=str(official_dir), cache_dir=str(tmp_path))
    assert_equals_archives({"test": dataset_arrays(loaded["test"])}, official_dir, splits=["test"])
    assert loaded["train"].num_rows == 60_000


def arrays_of(split):
    columns = split.with_format("numpy", dtype=np.uint8)[:]
    return columns["image"], columns["label"]


def test_sample_arrays_load_and_stream(tmp_path):
    loaded = datasets.load_dataset(SCRIPT, "sample", arrays=True, trust_remote_code=True, cache_dir=str(tmp_path))
    assert loaded["train"].features["image"] == datasets.Array2D(shape=(28, 28), dtype="uint8")
    assert_equals_archives({split: arrays_of(loaded[split]) for split in loaded}, SAMPLE_DIR)
    streamed = datasets.load_dataset(SCRIPT, "sample", arrays=True, trust_remote_code=True, streaming=True)
    rows = list(streamed["test"])
    images = np.array([row["image"] for row in rows], np.uint8)
    assert_equals_archives({"test": (images, [row["label"] for row in rows])}, SAMPLE_DIR, splits=["test"])


def test_the_arrays_config_from_data_dir(official_dir, tmp_path):
    loaded = datasets.load_dataset(
        SCRIPT, "arrays", trust_remote_code=True, data_dir=str(official_dir), cache_dir=str(tmp_path)
    )
    assert loaded["train"].features["label"].names == loaded["test"].features["label"].names
    assert_equals_archives({split: arrays_of(loaded[split]) for split in loaded}, official_dir)


def test_the_export_loads_in_both_configs(tmp_path):
    """A sample export, written by tools.export in the main venv (datasets 5), as datasets 3.6 reads it."""
    main_python = REPO / ".venv" / "bin" / "python"
    if not main_python.exists():
        pytest.skip(f"no main venv at {main_python} to write the export with")
    folder = tmp_path / "hub"
    command = [main_python, "-m", "tools.export", "--sample", "--out", folder, "--cache-dir", tmp_path / "build"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=300)
    pngs = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert_equals_archives({split: dataset_arrays(pngs[split]) for split in pngs}, SAMPLE_DIR)
    arrays = datasets.load_dataset(str(folder), "arrays", cache_dir=str(tmp_path / "cache"))
    assert arrays["train"].features["image"] == datasets.Array2D(shape=(28, 28), dtype="uint8")
    assert_equals_archives({split: arrays_of(arrays[split]) for split in arrays}, SAMPLE_DIR)


def test_script_branch_as_published_loads(tmp_path):
    """The files that `--push` puts on the `script` branch (every tracked file), laid out as a repository named after
    the script."""
    repo = tmp_path / "fashion_mnist"
    for name in source_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, repo / name)
    loaded = datasets.load_dataset(str(repo), "sample", trust_remote_code=True, cache_dir=str(tmp_path / "cache"))
    assert_equals_archives({split: dataset_arrays(loaded[split]) for split in loaded}, SAMPLE_DIR)
