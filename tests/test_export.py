"""The Hub-ready export of the sample archives: round trip on datasets 5, reproducibility, atomicity."""

import hashlib
import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard

import fashion_mnist as fm
from tests.archives import archive_arrays
from tests.fixtures import REPO, SAMPLE_DIR
from tools import export, layout
from tools.layout import DATA_FOLDER

PARQUET_FILES = [
    f"{folder}/{name}"
    for folder in ("arrays", "fashion_mnist")
    for split in ("test", "train")
    for name in export.parquet_file_names(split)
]
FOLDER_FILES = sorted(["README.md", *export.CARD_FILES, *PARQUET_FILES])


def files_of(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def digests(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files_of(folder)}


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    builder = export.build(config_name="sample", cache_dir=str(root / "cache"))
    return builder, export.write_folder(builder, root / "hub")


def test_folder_holds_the_card_its_files_and_parquet_only(sample_export):
    _, folder = sample_export
    assert layout.export_files() == FOLDER_FILES
    assert files_of(folder) == [layout.EXPORT_MANIFEST, *FOLDER_FILES]
    assert json.loads((folder / layout.EXPORT_MANIFEST).read_text())["files"] == FOLDER_FILES
    assert [p.name for p in folder.parent.glob(".hub.*")] == [".hub.lock"], "no partial or previous folder beside it"


def test_files_beside_the_card_are_the_repository_files(sample_export):
    """The documents of docs/ as the Hub shows them (tests/test_docs.py), the other files as they are."""
    _, folder = sample_export
    assert "images/examples.png" in export.CARD_FILES
    for name in export.CARD_FILES:
        if name.startswith("docs/"):
            assert (folder / name).read_text() == export.hub_document((REPO / name).read_text()), name
        else:
            assert (folder / name).read_bytes() == (REPO / name).read_bytes(), name


def test_hub_card_leaves_out_the_repository_only_parts(sample_export):
    _, folder = sample_export
    repo_text = DatasetCard.load(REPO / "README.md").text
    hub_text = DatasetCard.load(folder / "README.md").text
    assert "## Working on this repository" in repo_text and "<!-- ci -->" in repo_text
    assert "Working on this repository" not in hub_text
    assert "<!-- ci -->" not in hub_text and "repo-only" not in hub_text
    # Everything else of the card is there, in order: the Hub text is the repository text minus those parts.
    kept = [line for line in hub_text.removeprefix(export.SAMPLE_WARNING).splitlines() if line.strip()]
    repo_lines = iter(repo_text.splitlines())
    assert all(any(line == other for other in repo_lines) for line in kept)
    assert "## Additional Information" in hub_text and "![" in hub_text


def test_hub_text_drops_each_marked_part():
    text = "a\n\n<!-- repo-only -->\nb\n<!-- /repo-only -->\n\nc\n<!-- repo-only -->\nd\n\ne\n<!-- /repo-only -->\n"
    assert export.hub_text(text) == "a\n\nc\n"


@pytest.mark.parametrize("streaming", [False, True])
def test_the_arrays_config_gives_the_archives_arrays(sample_export, streaming, tmp_path):
    _, folder = sample_export
    loaded = datasets.load_dataset(str(folder), "arrays", streaming=streaming, cache_dir=str(tmp_path))
    for split in ("train", "test"):
        assert loaded[split].features == fm.features(arrays=True)
        assert loaded[split].features["label"].names == fm.CLASS_NAMES
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        if streaming:
            rows = list(loaded[split])
            images = np.stack([np.asarray(row["image"], np.uint8) for row in rows])
            labels = np.array([row["label"] for row in rows])
        else:
            columns = loaded[split].with_format("numpy", dtype=np.uint8)[:]
            images, labels = columns["image"], columns["label"]
            assert images.dtype == np.uint8
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)


@pytest.mark.parametrize("streaming", [False, True])
def test_load_dataset_on_the_folder_gives_the_builder_rows(sample_export, streaming, tmp_path):
    builder, folder = sample_export
    loaded = datasets.load_dataset(str(folder), streaming=streaming, cache_dir=str(tmp_path))
    assert set(loaded) == {"train", "test"}
    for split in ("train", "test"):
        assert loaded[split].features == builder.info.features
        rows = list(loaded[split])
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        assert [row["label"] for row in rows] == expected_labels.tolist()
        np.testing.assert_array_equal(np.stack([np.asarray(row["image"]) for row in rows]), expected_images)
        assert builder.as_dataset(split=split)["label"][:] == expected_labels.tolist()


def test_parquet_is_split_into_files_and_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "FILES_PER_SPLIT", 3)
    monkeypatch.setattr(layout, "FILES_PER_SPLIT", 3)
    monkeypatch.setattr(export, "ROW_GROUP_SIZE", 8)
    monkeypatch.setattr(export, "ARRAYS_ROW_GROUP_SIZE", 6)
    folder = export.write_folder(
        export.build(config_name="sample", cache_dir=str(tmp_path / "cache")), tmp_path / "hub"
    )
    rows = {}
    for config in ("fashion_mnist", "arrays"):
        for name in ("train-00000-of-00003", "train-00001-of-00003", "train-00002-of-00003"):
            metadata = pq.ParquetFile(folder / f"{config}/{name}.parquet").metadata
            rows[config, name] = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    # 60 rows: three files of 20, each in row groups of 8, or of 6 for the arrays.
    assert rows == {(config, name): [8, 8, 4] if config == "fashion_mnist" else [6, 6, 6, 2] for config, name in rows}


def test_the_image_column_is_zstd_compressed_and_lists_are_named_as_datasets_names_them(sample_export):
    """Compression options name columns by path: a path that no longer matches leaves the column uncompressed,
    silently. The arrays' nested lists carry `item` names, which pyarrow 10 needs to read them as Array2D."""
    _, folder = sample_export
    paths = {"fashion_mnist": ["image.bytes", "image.path"], "arrays": ["image.list.item.list.item"]}
    for config, image_paths in paths.items():
        metadata = pq.ParquetFile(folder / f"{config}/train-00000-of-00008.parquet").metadata
        columns = [metadata.row_group(0).column(i) for i in range(metadata.num_columns)]
        expected = {**dict.fromkeys(image_paths, "ZSTD"), "label": "SNAPPY"}
        assert {column.path_in_schema: column.compression for column in columns} == expected


def test_card_yaml_describes_the_files(sample_export):
    builder, folder = sample_export
    card = DatasetCard.load(folder / "README.md")
    assert card.data["configs"] == [
        {
            "config_name": "fashion_mnist",
            "data_files": [
                {"split": "train", "path": "fashion_mnist/train-*"},
                {"split": "test", "path": "fashion_mnist/test-*"},
            ],
            "default": True,
        },
        {
            "config_name": "arrays",
            "data_files": [
                {"split": "train", "path": "arrays/train-*"},
                {"split": "test", "path": "arrays/test-*"},
            ],
        },
    ]
    infos = {info["config_name"]: info for info in card.data["dataset_info"]}
    assert sorted(infos) == ["arrays", "fashion_mnist"]
    assert infos["fashion_mnist"]["features"][0] == {"name": "image", "dtype": "image"}
    assert infos["arrays"]["features"][0] == {
        "name": "image",
        "dtype": {"array2_d": {"shape": [28, 28], "dtype": "uint8"}},
    }
    for info in infos.values():
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == {"train": 60, "test": 40}
        assert info["download_size"] == builder.info.download_size
    assert card.text.startswith(export.SAMPLE_WARNING)


def test_same_archives_give_byte_identical_files(sample_export, tmp_path):
    _, folder = sample_export
    again = export.write_folder(export.build(config_name="sample", cache_dir=str(tmp_path / "cache")), tmp_path / "hub")
    assert digests(again) == digests(folder)


@pytest.mark.parametrize("moved_aside", [False, True], ids=["in place", "left aside between the two renames"])
def test_failed_rerun_leaves_the_previous_folder(sample_export, tmp_path, monkeypatch, moved_aside):
    builder, _ = sample_export
    folder = export.write_folder(builder, tmp_path / "hub")
    before = digests(folder)
    if moved_aside:  # as a run killed after moving the old folder aside, before moving the new one in, leaves it
        folder.rename(tmp_path / ".hub.previous")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export, "write_parquet", fail)
    with pytest.raises(OSError, match="disk full"):
        export.write_folder(builder, tmp_path / "hub")
    assert digests(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hub.lock", "hub"]


def test_rerun_replaces_an_earlier_export_but_never_a_file_it_did_not_write(sample_export, tmp_path):
    builder, _ = sample_export
    folder = export.write_folder(builder, tmp_path / "hub")
    written = digests(folder)
    (folder / "docs" / "mine.txt").write_text("the user's notes")
    with pytest.raises(export.ExportError, match=r"it holds docs/mine\.txt, which tools\.export did not write"):
        export.write_folder(builder, folder)
    assert (folder / "docs" / "mine.txt").read_text() == "the user's notes"
    (folder / "docs" / "mine.txt").unlink()
    (folder / "README.md").write_text("edited")
    export.write_folder(builder, folder)
    assert digests(folder) == written


def test_a_folder_in_the_way_beside_out_is_refused(sample_export, tmp_path):
    builder, _ = sample_export
    (tmp_path / ".hub.partial").mkdir()
    (tmp_path / ".hub.partial" / "mine.txt").write_text("not the tool's")
    with pytest.raises(export.ExportError, match=r"\.hub\.partial is in the way and tools\.export did not write it"):
        export.write_folder(builder, tmp_path / "hub")
    assert (tmp_path / ".hub.partial" / "mine.txt").read_text() == "not the tool's"
    assert not (tmp_path / "hub").exists()


def test_publish_plan_puts_parquet_on_main_and_the_script_on_its_branch(sample_export):
    _, folder = sample_export
    main = export.main_branch_operations(folder, remote_files=[".gitattributes", "fashion_mnist.py", "README.md"])
    assert sorted(op.path_in_repo for op in main if isinstance(op, CommitOperationAdd)) == layout.export_files()
    assert [op.path_in_repo for op in main if isinstance(op, CommitOperationDelete)] == ["fashion_mnist.py"]
    script = export.script_branch_operations(remote_files=["fashion_mnist/train-00000-of-00001.parquet"])
    added = sorted(op.path_in_repo for op in script if isinstance(op, CommitOperationAdd))
    sample_files = sorted(f"dummy/{p.name}" for p in SAMPLE_DIR.glob("*.gz"))
    assert added == sorted(["README.md", "dataset_infos.json", "fashion_mnist.py", *export.CARD_FILES, *sample_files])
    assert [op.path_in_repo for op in script if isinstance(op, CommitOperationDelete)] == [
        "fashion_mnist/train-00000-of-00001.parquet"
    ]


def test_command_on_the_sample_prints_a_summary_and_a_dry_run(tmp_path, capsys):
    out = tmp_path / "hub"
    assert export.main(["--sample", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}" in printed
    assert "train: 60 examples" in printed
    assert "test: 40 examples" in printed
    counts = np.bincount(archive_arrays(SAMPLE_DIR, "train")[1], minlength=10)
    for label, name in enumerate(fm.CLASS_NAMES):
        assert f"{label} {name:<16} {counts[label]:>6,}" in printed
    assert f'datasets.load_dataset("{out}")' in printed


def test_sample_build_is_never_published(sample_export, tmp_path, capsys):
    _, folder = sample_export
    with pytest.raises(SystemExit) as refused:
        export.main(["--sample", "--out", str(tmp_path / "hub"), "--push", "someone/fashion_mnist", "--dry-run"])
    assert refused.value.code == 2
    assert "--push with --sample: a sample build is never published" in capsys.readouterr().err
    assert not (tmp_path / "hub").exists(), "refused before building"
    # A folder that already holds a sample build is refused too, without any flag saying so.
    assert export.main(["--out", str(folder), "--push", "someone/fashion_mnist", "--dry-run"]) == 1
    assert f"Refusing to publish {folder}: it holds a sample build" in capsys.readouterr().err


@pytest.fixture
def cluttered_export(sample_export, tmp_path):
    """An export folder that also holds what a user may leave in it: secrets, a clone, a link, a stray file."""
    builder, _ = sample_export
    folder = export.write_folder(builder, tmp_path / "hub")
    (folder / ".env").write_text("HF_TOKEN=hf_secret\n")
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "config").write_text("[core]\n")
    (tmp_path / "private.txt").write_text("outside the folder")
    (folder / "notes").symlink_to(tmp_path / "private.txt")
    (folder / DATA_FOLDER / "old-00000-of-00001.parquet").write_bytes(b"PAR1")
    return folder


LEFT_OUT = [".env", ".git/", "notes (a symbolic link)", "fashion_mnist/old-00000-of-00001.parquet"]


def test_push_holds_exactly_the_export_files_and_lists_the_rest_as_left_out(cluttered_export):
    files, left_out = export.published_files(cluttered_export)
    assert files == layout.export_files()
    assert left_out == LEFT_OUT
    operations = export.main_branch_operations(cluttered_export)
    assert [op.path_in_repo for op in operations] == layout.export_files()
    assert all(isinstance(op, CommitOperationAdd) for op in operations)


def test_the_dry_run_lists_the_export_files_only(cluttered_export, monkeypatch, capsys):
    monkeypatch.setattr(export, "verify_folder", lambda folder: "fashion_mnist")  # a sample, taken for a full one
    assert export.main(["--out", str(cluttered_export), "--push", "someone/fashion_mnist", "--dry-run"]) == 0
    printed = capsys.readouterr()
    main_list = printed.out.split("Would push to someone/fashion_mnist@script:")[0].splitlines()
    assert main_list == ["Would push to someone/fashion_mnist@main:", *(f"  add {n}" for n in layout.export_files())]
    assert f"Leaving out of the push what the export does not write: {', '.join(LEFT_OUT)}" in printed.err
    assert "Traceback" not in printed.err


@pytest.mark.parametrize("linked", ["near_duplicates.csv", "images"], ids=["a file", "the folder of a file"])
def test_an_export_file_that_is_a_link_is_refused(cluttered_export, tmp_path, linked):
    elsewhere = tmp_path / "elsewhere"
    (cluttered_export / linked).rename(elsewhere)
    (cluttered_export / linked).symlink_to(elsewhere)
    first = "images/examples.png" if linked == "images" else linked
    with pytest.raises(export.ExportError, match=rf"{first} is not a regular file in it"):
        export.published_files(cluttered_export)
    with pytest.raises(export.ExportError, match=rf"{first} is not a regular file in it"):
        export.main_branch_operations(cluttered_export)


def test_a_manifest_naming_files_outside_its_folder_is_not_an_export(tmp_path):
    outside = tmp_path / "keep.txt"
    outside.write_text("mine")
    out = tmp_path / "hub"
    out.mkdir()
    manifest = {"written_by": "tools.export", "complete": True, "files": ["../keep.txt"]}
    (out / layout.EXPORT_MANIFEST).write_text(json.dumps(manifest), "utf-8")
    assert export.written_files(out) is None
    with pytest.raises(export.ExportError, match=r"is not an export by tools\.export"):
        export.check_out(out)
    export.remove_export(out)
    assert outside.read_text() == "mine"
