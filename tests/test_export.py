"""The Hub-ready export: round trip on datasets 5, reproducibility, the folder swap, what a push sends."""

import hashlib
import json
import shutil
import subprocess
import threading
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard

import fashion_mnist as fm
from tests.archives import archive_arrays, hub_sizes
from tests.fixtures import REPO, SAMPLE_DIR, tracked_files
from tools import card, export, layout, parquet, publish
from tools.build import build_configs


def files_of(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def digests(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files_of(folder)}


def parquet_names(folder):
    """The Parquet files of the configs (not label_probabilities.parquet, a file the card links to)."""
    data_folders = tuple(f"{data_folder}/" for data_folder in layout.DATA_FOLDERS.values())
    return [name for name in files_of(folder) if name.endswith(".parquet") and name.startswith(data_folders)]


def copy_export(sample_export, tmp_path):
    """A copy of the session's sample export, to change: (builders, folder)."""
    builders, folder = sample_export
    return builders, shutil.copytree(folder, tmp_path / "hub", symlinks=True)


def test_folder_holds_the_card_its_files_the_parquet_files_and_the_manifest(sample_export):
    _, folder = sample_export
    names = parquet_names(folder)
    assert len(names) == 2 * 2 * layout.FILES_PER_SPLIT
    for name in names:
        data_folder, file = name.split("/")
        _, _, count, digest = layout.PARQUET_NAME.fullmatch(file).groups()
        assert data_folder in ("fashion_mnist", "arrays") and count == f"{layout.FILES_PER_SPLIT:05d}"
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest().startswith(digest)
    expected = sorted([*layout.TEXT_FILES, *names])
    assert files_of(folder) == sorted([layout.MANIFEST, *expected])
    assert json.loads((folder / layout.MANIFEST).read_text())["files"] == expected
    assert [p.name for p in folder.parent.glob(".hub*")] == [".hub.lock"], "nothing left beside it but the lock"


def test_files_beside_the_card_are_the_repository_files(sample_export):
    """The documents of docs/ as the Hub shows them (tests/test_docs.py), the other files as they are."""
    _, folder = sample_export
    assert "images/examples.png" in layout.CARD_FILES
    for name in layout.CARD_FILES:
        if name.startswith("docs/"):
            assert (folder / name).read_text() == card.hub_document((REPO / name).read_text()), name
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
    kept = [line for line in hub_text.removeprefix(layout.SAMPLE_WARNING).splitlines() if line.strip()]
    repo_lines = iter(repo_text.splitlines())
    assert all(any(line == other for other in repo_lines) for line in kept)
    assert "## Additional Information" in hub_text and "![" in hub_text


def test_hub_text_drops_each_marked_part():
    text = "a\n\n<!-- repo-only -->\nb\n<!-- /repo-only -->\n\nc\n<!-- repo-only -->\nd\n\ne\n<!-- /repo-only -->\n"
    assert card.hub_text(text) == "a\n\nc\n"


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
    builders, folder = sample_export
    loaded = datasets.load_dataset(str(folder), streaming=streaming, cache_dir=str(tmp_path))
    assert set(loaded) == {"train", "test"}
    for split in ("train", "test"):
        assert loaded[split].features == builders["fashion_mnist"].info.features
        rows = list(loaded[split])
        expected_images, expected_labels = archive_arrays(SAMPLE_DIR, split)
        assert [row["label"] for row in rows] == expected_labels.tolist()
        np.testing.assert_array_equal(np.stack([np.asarray(row["image"]) for row in rows]), expected_images)


def test_parquet_is_split_into_files_and_row_groups(sample_export, tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "FILES_PER_SPLIT", 3)
    monkeypatch.setattr(layout, "ROW_GROUP_SIZE", 8)
    monkeypatch.setattr(layout, "ARRAYS_ROW_GROUP_SIZE", 6)
    builders, _ = sample_export
    rows = {}
    for config, builder in builders.items():
        (tmp_path / config).mkdir()
        names = parquet.write_split(builder.as_dataset(split="train"), tmp_path / config, "train")
        assert [name[:20] for name in names] == [f"train-0000{i}-of-00003" for i in range(3)]
        for name in names:
            metadata = pq.ParquetFile(tmp_path / config / name).metadata
            rows[config, name[:20]] = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    # 60 rows: three files of 20, each in row groups of 8, or of 6 for the arrays.
    assert rows == {(config, name): [8, 8, 4] if config == "fashion_mnist" else [6, 6, 6, 2] for config, name in rows}


def test_columns_are_compressed_as_chosen_and_carry_no_statistics_or_page_index(sample_export):
    """Compression options name columns by path: a path that no longer matches leaves the column uncompressed,
    silently. The arrays' nested lists carry `item` names, which pyarrow 10 needs to read them as Array2D. Readers
    trust statistics and page indexes without checking them: the export writes none."""
    _, folder = sample_export
    paths = {"fashion_mnist": ["image.bytes", "image.path"], "arrays": ["image.list.item.list.item"]}
    for config, image_paths in paths.items():
        for path in layout.parquet_files(folder, config, "train"):
            metadata = pq.ParquetFile(path).metadata
            for group in range(metadata.num_row_groups):
                columns = [metadata.row_group(group).column(i) for i in range(metadata.num_columns)]
                expected = {**dict.fromkeys(image_paths, "ZSTD"), "label": "SNAPPY"}
                assert {column.path_in_schema: column.compression for column in columns} == expected
                assert not any(column.is_stats_set or column.has_column_index for column in columns)
                assert not any(column.has_offset_index for column in columns)


def test_card_yaml_describes_the_files_with_the_sizes_the_hub_computes(sample_export):
    """The Hub's dataset viewer computes a split's num_bytes from the Parquet footers and download_size as the bytes of
    the config's files (tests.archives.hub_sizes)."""
    _, folder = sample_export
    data = DatasetCard.load(folder / "README.md").data
    assert data["configs"] == [
        {
            "config_name": "fashion_mnist",
            "data_files": [
                {"split": "train", "path": "fashion_mnist/train-*"},
                {"split": "test", "path": "fashion_mnist/test-*"},
            ],
            "default": True,
        },
        {"config_name": "arrays", "data_files": [{"split": s, "path": f"arrays/{s}-*"} for s in ("train", "test")]},
    ]
    infos = {info["config_name"]: info for info in data["dataset_info"]}
    assert infos["fashion_mnist"]["features"][0] == {"name": "image", "dtype": "image"}
    assert infos["arrays"]["features"][0] == {
        "name": "image",
        "dtype": {"array2_d": {"shape": [28, 28], "dtype": "uint8"}},
    }
    for config, info in infos.items():
        sizes = hub_sizes(folder, config)
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == {"train": 60, "test": 40}
        assert {
            s["name"]: {"num_bytes": s["num_bytes"], "num_examples": s["num_examples"]} for s in info["splits"]
        } == (sizes["splits"])
        assert (info["download_size"], info["dataset_size"]) == (sizes["download_size"], sizes["dataset_size"])
    assert DatasetCard.load(folder / "README.md").text.startswith(layout.SAMPLE_WARNING)


def test_same_archives_give_byte_identical_folders(sample_export, tmp_path):
    """A build in a new cache, in two processes instead of one, exports the same bytes."""
    _, folder = sample_export
    builders = build_configs(sample=True, cache_dir=tmp_path / "cache", num_proc=2)
    assert digests(export.write_folder(builders, tmp_path / "hub")) == digests(folder)


def test_a_failed_rerun_leaves_the_previous_folder_and_nothing_beside_it(sample_export, tmp_path, monkeypatch):
    builders, folder = copy_export(sample_export, tmp_path)
    before = digests(folder)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "x.parquet"))

    monkeypatch.setattr(parquet, "write_split", fail)
    with pytest.raises(OSError, match="No space left"):
        export.write_folder(builders, folder)
    assert digests(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hub.lock", "hub"]


def test_leftovers_of_killed_runs_are_removed_and_links_never_followed(sample_export, tmp_path):
    """What a run killed part-way leaves beside --out: its new folder, half written, or the old export moved aside.
    A symbolic link of such a name is not the tool's: it stays, and what it points to is untouched."""
    builders, folder = copy_export(sample_export, tmp_path)
    (tmp_path / ".hub.new-0badf00d" / "fashion_mnist").mkdir(parents=True)
    (tmp_path / ".hub.new-0badf00d" / "fashion_mnist" / "train-00000-of-00008-0.parquet").write_bytes(b"PAR1")
    shutil.copytree(folder, tmp_path / ".hub.old-12345678")
    other = shutil.copytree(folder, tmp_path / "other")
    (tmp_path / ".hub.old-deadbeef").symlink_to(other)
    export.write_folder(builders, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hub.lock", ".hub.old-deadbeef", "hub", "other"]
    assert digests(other) == digests(folder)


def test_a_rerun_replaces_an_earlier_export_but_never_a_file_it_did_not_write(sample_export, tmp_path):
    builders, folder = copy_export(sample_export, tmp_path)
    written = digests(folder)
    (folder / "docs" / "mine.txt").write_text("the user's notes")
    with pytest.raises(export.ExportError, match=r"it holds docs/mine\.txt, which tools\.export did not write"):
        export.write_folder(builders, folder)
    assert (folder / "docs" / "mine.txt").read_text() == "the user's notes"
    (folder / "docs" / "mine.txt").unlink()
    (folder / "README.md").write_text("edited")
    export.write_folder(builders, folder)
    assert digests(folder) == written


def test_a_reader_of_a_folder_exported_again_with_other_bytes_gets_an_error_not_a_mix(sample_export, tmp_path):
    """Parquet names carry their content's digest: a stream that listed the old files finds them gone."""
    builders, folder = copy_export(sample_export, tmp_path)
    stream = iter(datasets.load_dataset(str(folder), split="train", streaming=True))
    first = next(stream)
    assert first["label"] == archive_arrays(SAMPLE_DIR, "train")[1][0]
    old = set(layout.parquet_files(folder, "fashion_mnist", "train"))
    with pytest.MonkeyPatch.context() as patch:  # other row groups: the same rows in other bytes
        patch.setattr(layout, "ROW_GROUP_SIZE", 4)
        export.write_folder(builders, folder)
    assert not old & set(layout.parquet_files(folder, "fashion_mnist", "train"))
    with pytest.raises(FileNotFoundError, match=r"train-0000\d-of-00008-[0-9a-f]{16}\.parquet"):
        list(stream)


def test_a_file_put_in_the_folder_while_it_is_exported_again_stops_the_swap(sample_export, tmp_path):
    builders, folder = copy_export(sample_export, tmp_path)
    before = digests(folder)

    def add_a_note(new, files, kind):
        (folder / "notes.txt").write_text("mine")

    with pytest.raises(export.ExportError, match=r"it holds notes\.txt, which tools\.export did not write"):
        export.write_folder(builders, folder, before_swap=add_a_note)
    assert digests(folder) == {**before, "notes.txt": hashlib.sha256(b"mine").hexdigest()}


def test_the_command_on_the_sample_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "hub"
    assert export.main(["--sample", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}" in printed
    assert "train: 60 examples" in printed
    assert "test: 40 examples" in printed
    assert f'datasets.load_dataset("{out}")' in printed


def test_a_push_publishes_the_folder_it_built_and_deletes_only_the_branches_other_files(official_export_run):
    """The session's official build, exported and pushed by one `tools.export --push` (tests.fixtures) on a fake of
    HfApi: main gets exactly the export it built and verified, script exactly the files git tracks, as they are in
    the working tree; of the files the branches had, only those not pushed again are deleted, .gitattributes never."""
    run = official_export_run
    (hub,) = run.hubs
    assert hub.token == "hf_test"
    assert [call[0] for call in hub.calls] == ["create_repo", "create_commit", "create_branch", "create_commit"]
    assert [call[2] for call in hub.calls if call[0] == "create_commit"] == ["main", "script"]
    exported = json.loads((run.folder / layout.MANIFEST).read_text())["files"]
    main, script = hub.commits["main"], hub.commits["script"]
    # main: the folder as verified, before it was swapped into --out (it has not changed since).
    assert sorted(main["added"]) == exported
    in_place = {name: digest for name, digest in digests(run.folder).items() if name != layout.MANIFEST}
    assert {name: digest for name, (_, digest) in main["added"].items()} == in_place
    assert all(".hub.new-" in path for path, _ in main["added"].values()), "the folder this run built, not --out"
    assert main["deleted"] == ["fashion_mnist/train-00000-of-00001.parquet"]  # README.md stays: it is pushed again
    assert hub.branches["main"] == sorted([".gitattributes", *exported])
    # script: every tracked file, read from the repository's working tree, and nothing else.
    assert sorted(script["added"]) == run.tracked
    assert all(path == str(REPO / name) for name, (path, _) in script["added"].items())
    assert {"fashion_mnist.py", "tools/export.py", "tests/test_export.py", "README.md"} <= set(script["added"])
    assert script["deleted"] == ["old-script.py"]  # fashion_mnist.py, which it had, is pushed again
    assert hub.branches["script"] == sorted({".gitattributes", *run.tracked})
    assert "Source tree" in script["message"]
    deleted = [line.removeprefix("  delete ") for line in run.stdout.splitlines() if line.startswith("  delete ")]
    assert deleted == ["fashion_mnist/train-00000-of-00001.parquet", "old-script.py"]


def test_publish_plans_additions_only_in_a_dry_run(sample_export):
    _, folder = sample_export
    files = json.loads((folder / layout.MANIFEST).read_text())["files"]
    plan = publish.publish("someone/fm", folder, files, api=None, dry_run=True)
    assert [op.path_in_repo for op in plan["main"]] == files
    assert [op.path_in_repo for op in plan["script"]] == tracked_files()
    assert all(isinstance(op, CommitOperationAdd) for ops in plan.values() for op in ops)
    deletes = publish.operations(folder, files, remote_files=[".gitattributes", "x.py", files[0]])
    assert [op.path_in_repo for op in deletes if isinstance(op, CommitOperationDelete)] == ["x.py"]


@pytest.mark.parametrize("broken", ["not a clone", "no git"])
def test_a_push_that_cannot_list_the_source_tree_stops_before_building(broken, tmp_path, monkeypatch, capsys):
    """The script branch holds what git tracks: without git, or outside a clone, the push stops in one line before it
    builds (no archive host is asked: the one given does not exist) and before any call to the Hub."""
    if broken == "not a clone":
        monkeypatch.setenv("GIT_DIR", str(tmp_path))  # git then finds no repository
        expected = f"git ls-files failed: fatal: not a git repository: '{tmp_path}'. Push from a Git clone"
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
        expected = "git cannot be run (git: No such file or directory). Push from a Git clone"
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setattr(export, "HfApi", lambda token=None: pytest.fail("the Hub was called"))
    out = tmp_path / "hub"
    argv = ["--base-url", "http://127.0.0.1:9/", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert export.main([*argv, "--push", "someone/fm"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "tools.export: error: --push publishes the source tree with the export (the script branch: every file git "
        f"tracks in {REPO}), but {expected}"
    ]
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_the_source_tree_is_every_tracked_file_and_each_must_be_there(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    for name in ("notes.txt", "docs/a.md", "untracked.txt"):
        (tmp_path / name).write_text(name)
    subprocess.run(["git", "add", "notes.txt", "docs/a.md"], cwd=tmp_path, check=True)
    with pytest.raises(publish.PublishError, match=r"but git tracks no fashion_mnist\.py there\. Push from a Git"):
        publish.source_files(tmp_path)
    (tmp_path / "fashion_mnist.py").write_text("")
    subprocess.run(["git", "add", "fashion_mnist.py"], cwd=tmp_path, check=True)
    assert publish.source_files(tmp_path) == ["docs/a.md", "fashion_mnist.py", "notes.txt"]
    (tmp_path / "notes.txt").unlink()
    with pytest.raises(publish.PublishError, match=r"notes\.txt is tracked and not a regular file in the working tree"):
        publish.source_files(tmp_path)


def test_a_sample_build_is_never_published(sample_export, tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as refused:
        export.main(["--sample", "--out", str(tmp_path / "hub"), "--push", "someone/fashion_mnist", "--dry-run"])
    assert refused.value.code == 2
    assert "--push with --sample: a sample build is never published" in capsys.readouterr().err
    assert not (tmp_path / "hub").exists(), "refused before building"
    # A build that turns out to be the sample (a --data-dir holding the sample archives) is refused before any push.
    builders, folder = copy_export(sample_export, tmp_path)
    args = export.parse_args(["--out", str(folder), "--push", "someone/fashion_mnist", "--dry-run"])
    with pytest.raises(export.ExportError, match="it holds a sample build"):
        export.write_folder(builders, folder, before_swap=export.pusher(args))
    assert digests(folder) == digests(sample_export[1])


def test_two_exports_to_one_folder_at_once_are_one_written_and_one_refused(sample_export, tmp_path):
    builders, _ = sample_export
    entered, release = threading.Event(), threading.Event()

    def slow(folder, files, kind):
        entered.set()
        release.wait(30)

    first = threading.Thread(target=export.write_folder, args=(builders, tmp_path / "hub", slow))
    first.start()
    assert entered.wait(60)
    with pytest.raises(export.cli.UserError, match=r"Another run is writing .*hub \(it holds .*\.hub\.lock\)"):
        export.write_folder(builders, tmp_path / "hub")
    release.set()
    first.join()
    assert digests(tmp_path / "hub") == digests(sample_export[1])


# A damaged cache: the export verifies what it wrote from the cache before it swaps it in.


def cached_sample(tmp_path):
    """Both configs of the sample built in a cache of their own, its export, and the default config's Arrow file of
    the train split."""
    builders = build_configs(sample=True, cache_dir=tmp_path / "cache")
    out = export.write_folder(builders, tmp_path / "hub")
    (train,) = [f["filename"] for f in builders["fashion_mnist"].as_dataset(split="train").cache_files]
    return builders, out, Path(train)


def assert_refused_naming_the_cache(builders, out, before, text):
    builder = builders["fashion_mnist"]
    with pytest.raises(export.ExportError) as raised:
        export.write_folder(build_configs(sample=True, cache_dir=out.parent / "cache"), out)
    message = str(raised.value)
    assert message.startswith(f"The prepared dataset in the cache {builder.cache_dir} is damaged: "), message
    assert text in message and f"Remove {builder.cache_dir} (or pass another --cache-dir)" in message
    assert digests(out) == before, "the previous export is untouched"
    assert sorted(p.name for p in out.parent.iterdir()) == [".hub.lock", "cache", "hub"], "nothing left beside it"
    shutil.rmtree(builder.cache_dir)  # what the message says to do works
    export.write_folder(build_configs(sample=True, cache_dir=out.parent / "cache"), out)
    assert digests(out) == before


def test_a_label_changed_in_the_cached_arrow_file_is_caught(tmp_path):
    builders, out, arrow = cached_sample(tmp_path)
    labels = archive_arrays(SAMPLE_DIR, "train")[1]
    data = bytearray(arrow.read_bytes())
    offset = data.find(labels.astype("<i8").tobytes())
    assert offset > 0 and labels[0] == 9
    data[offset] = 0  # train[0]: label 0 instead of 9, the file still valid
    arrow.write_bytes(data)
    expected = "fail verification: fashion_mnist/train-*.parquet: the train split's labels are not Fashion-MNIST's"
    assert_refused_naming_the_cache(builders, out, digests(out), expected)


def test_a_truncated_cached_arrow_file_is_named(tmp_path):
    builders, out, arrow = cached_sample(tmp_path)
    arrow.write_bytes(arrow.read_bytes()[:20_000])
    assert_refused_naming_the_cache(builders, out, digests(out), "is damaged: it cannot be read (")


def test_an_old_export_that_cannot_be_removed_is_named_and_the_new_one_is_in_place(
    sample_export, tmp_path, monkeypatch, capsys
):
    builders, folder = copy_export(sample_export, tmp_path)
    (folder / "README.md").write_text("the old one")
    rmtree = shutil.rmtree

    def refuse_the_old_folder(path, *args, **kwargs):
        if ".hub.old-" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", refuse_the_old_folder)
    export.write_folder(builders, folder)
    assert digests(folder) == digests(sample_export[1])
    (old,) = tmp_path.glob(".hub.old-*")
    assert (old / "README.md").read_text() == "the old one"
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"{folder} is in place, but the previous one is left in {old} ([Errno 13] Permission denied: '{old}'): "
        f"rm -r {old}"
    )
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    export.write_folder(builders, folder)  # the next run removes it
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hub.lock", "hub"]


def test_a_full_disk_is_one_line_naming_the_folder_and_out_stays_as_it_was(
    sample_export, tmp_path, monkeypatch, capsys
):
    _, folder = copy_export(sample_export, tmp_path)
    before = digests(folder)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")  # as a write() that fills the disk: no path

    monkeypatch.setattr(parquet, "write_split", full)
    argv = ["--sample", "--out", str(folder), "--cache-dir", str(sample_export[1].parent / "cache")]
    assert export.main(argv) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"tools.export: error: {folder}: No space left on device"
    assert digests(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hub.lock", "hub"]
