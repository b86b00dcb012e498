"""tools.export as a user runs it, with the errors a user can make: in its own process, and the refusals before any
work through its `main` in this process (a new process spends seconds importing datasets before it refuses)."""

import os
import re
import shutil

import pytest

from tests.fixtures import REPO, SAMPLE_DIR, run_python, serve_directory
from tools import export as export_tool

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def export(*args, env=None):
    return run_python("-m", "tools.export", *args, env=env)


def export_here(args, monkeypatch, capsys):
    """Run tools.export's `main` in this process, from the repository, with no token and no --debug; return
    (exit code, stdout, stderr)."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.delenv("FASHION_MNIST_DEBUG", raising=False)
    try:
        code = export_tool.main(args)
    except SystemExit as stop:  # a usage error, from argparse
        code = stop.code
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


LOAD_FASHION_MNIST = """
import datasets
try:
    loaded = datasets.load_dataset("fashion_mnist")
except Exception as error:
    print("raised", type(error).__name__)
else:
    print("loaded", {name: split.num_rows for name, split in loaded.items()})
"""


BUILD_SAMPLE_WITH_THE_CLASS = """
import fashion_mnist
# With a hash, as load_dataset_builder gives one: the build lands in a folder that datasets' offline fallback finds.
fashion_mnist.FashionMnist(config_name="sample", hash="0123456789abcdef").download_and_prepare()
"""
SAMPLE_BUILDS = {
    "the README's setup command": ["-m", "tools.export", "--sample", "--out", "{tmp}/hub"],
    "the class, default cache": ["-c", BUILD_SAMPLE_WITH_THE_CLASS],
}


@pytest.mark.slow
@pytest.mark.parametrize("how", SAMPLE_BUILDS)
def test_offline_load_dataset_never_returns_a_sample_build(how, tmp_path):
    home = {"HF_HOME": str(tmp_path / "hf-home")}
    code, _, stderr = run_python(*(arg.format(tmp=tmp_path) for arg in SAMPLE_BUILDS[how]), env={**home, **OFFLINE})
    assert code == 0, stderr
    if how == "the README's setup command":
        assert not (tmp_path / "hf-home" / "datasets").exists(), "the export builds in a cache of its own"
    code, stdout, stderr = run_python("-c", LOAD_FASHION_MNIST, env={**home, **OFFLINE}, cwd=tmp_path)
    assert code == 0, stderr
    assert stdout.startswith("raised"), f"offline load_dataset returned a build of the sample: {stdout}"


@pytest.fixture
def bad_archives(tmp_path):
    """A folder with the four official file names, holding the sample archives: the wrong size for each."""
    folder = tmp_path / "bad"
    folder.mkdir()
    for path in SAMPLE_DIR.glob("*.gz"):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def user_error_cases(tmp_path, bad_archives, down_url):
    return {
        "missing folder": (["--data-dir", str(tmp_path / "nowhere")], r"--data-dir .*nowhere does not exist"),
        "wrong folder": (["--data-dir", str(tmp_path)], r"--data-dir .* has no train-images-idx3-ubyte\.gz"),
        "bad archive": (["--data-dir", str(bad_archives)], r"train-images-idx3-ubyte\.gz: 26,562 bytes, but"),
        "every host down": (
            ["--base-url", down_url],
            r"Could not get a valid train-images-idx3-ubyte\.gz from any host",
        ),
    }


@pytest.fixture
def down_url(tmp_path):
    """The URL of a loopback server that has stopped: connections to it are refused."""
    with serve_directory(tmp_path) as url:
        pass
    return url


@pytest.mark.parametrize("case", ["missing folder", "wrong folder", "bad archive", "every host down"])
def test_a_user_error_is_one_message_without_a_traceback(case, tmp_path, bad_archives, down_url):
    args, message = user_error_cases(tmp_path, bad_archives, down_url)[case]
    out = tmp_path / "hub"
    code, _, stderr = export(*args, "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    assert code == 1
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("tools.export: error: ")]
    assert len(errors) == 1, stderr
    assert re.search(message, errors[0]), errors[0]
    assert not out.exists(), "nothing is written after an error"


def test_debug_shows_the_traceback(tmp_path):
    code, _, stderr = export("--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "hub"), "--debug")
    assert code != 0
    assert "Traceback" in stderr and "does not exist" in stderr


def test_help_shows_every_default():
    code, stdout, _ = export("--help", env={"COLUMNS": "400"})  # one line per option
    assert code == 0
    for default in (
        f"folder to write: new, empty, or an earlier export (default: {REPO / 'build' / 'hub'})",
        f"datasets cache for the build (default: {REPO / 'build' / 'cache'})",
        f"processes that encode images (default: {os.cpu_count()}, or 1 with --sample)",
        "(repeatable, tried in order; default: https://github.com/zalandoresearch/fashion-mnist/raw/master/data/"
        "fashion/, then http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)",
    ):
        assert default in stdout


def test_an_export_says_each_stage_in_build_order(tmp_path):
    """On the sample archives: the same stages, in the same order, as the official ones take (downloaded, each
    "Getting" line names the URL)."""
    out = tmp_path / "hub"
    code, stdout, stderr = export(
        "--sample", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
        env={"HF_DATASETS_DISABLE_PROGRESS_BARS": "0"},
    )  # fmt: skip
    assert code == 0, stderr
    stages = [
        "Getting train-images-idx3-ubyte.gz from dummy/train-images-idx3-ubyte.gz",
        "Checked the train split: 60 images and labels",
        "Getting t10k-labels-idx1-ubyte.gz from dummy/t10k-labels-idx1-ubyte.gz",
        "Generating train split: 60 examples",
        "Generating test split: 40 examples",
        "Writing fashion_mnist/train-*.parquet (60 rows, 8 files)",
        "Writing fashion_mnist/test-*.parquet (40 rows, 8 files)",
    ]
    positions = [stderr.find(stage) for stage in stages]
    assert -1 not in positions, [stage for stage, at in zip(stages, positions, strict=True) if at == -1]
    assert positions == sorted(positions), "the stages come in build order"
    assert f"Wrote {out}" in stdout


def tree(folder):
    """Every entry under `folder`, without following links: file bytes, link targets, folders."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            entries[name] = ("link", os.readlink(path))
        elif path.is_file():
            entries[name] = path.read_bytes()
        else:
            entries[name] = "folder"
    return entries


def one_error(stderr):
    """The one line that the command printed about its error; fails if it printed a traceback or more lines."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("tools.export: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def earlier_export(tmp_path, sample_export):
    """A folder written by an earlier `tools.export --sample`: a copy of the session's sample export."""
    return shutil.copytree(sample_export[1], tmp_path / "hub", symlinks=True)


def out_refusals(tmp_path, earlier_export):
    """--out refusals: (the arguments, the folder that must stay as it was, the expected message)."""
    holder = tmp_path / "holder"
    (holder / "cache").mkdir(parents=True)
    archives = tmp_path / "data" / "archives"
    archives.mkdir(parents=True)
    for path in SAMPLE_DIR.glob("*.gz"):  # a data folder: four archive names (the builder never reads them here)
        (archives / path.name).write_bytes(path.read_bytes())
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("my notes")
    (earlier_export / "notes.txt").write_text("mine, beside an export")
    cache = tmp_path / "cache"
    (tmp_path / "link").symlink_to(notes)
    return {
        "a symbolic link to a folder": (
            ["--sample", "--out", str(tmp_path / "link"), "--cache-dir", str(cache)],
            notes,
            r"link: it is a symbolic link\. Give the folder itself\.$",
        ),
        "the repository": (
            ["--sample", "--out", ".", "--cache-dir", str(cache)],
            REPO / "dummy",
            r": it holds \S+ and no \.tools-export\.json: not an export by tools\.export",
        ),
        "the sample archives": (
            ["--sample", "--out", "dummy"],
            REPO / "dummy",
            r"it holds t10k-images-idx3-ubyte\.gz and no \.tools-export\.json: not an export by tools\.export",
        ),
        "a folder with notes": (
            ["--sample", "--out", str(notes), "--cache-dir", str(cache)],
            notes,
            r"it holds notes\.txt and no \.tools-export\.json: not an export by tools\.export\. Choose a new or",
        ),
        "an export with notes": (
            ["--sample", "--out", str(earlier_export), "--cache-dir", str(cache)],
            earlier_export,
            r"it holds notes\.txt, which tools\.export did not write\. Choose a new or empty folder\.$",
        ),
        "the card of an export": (
            ["--sample", "--out", str(earlier_export / "README.md"), "--cache-dir", str(cache)],
            earlier_export,
            r"README\.md: it is a file, not a folder\.$",
        ),
        "the data folder": (
            ["--data-dir", str(archives), "--out", str(archives), "--cache-dir", str(cache)],
            archives,
            r"it holds t10k-images-idx3-ubyte\.gz and no \.tools-export\.json: not an export by tools\.export",
        ),
        "a folder holding the data folder": (
            ["--data-dir", str(archives), "--out", str(archives.parent), "--cache-dir", str(cache)],
            archives,
            r"it holds archives/ and no \.tools-export\.json: not an export by tools\.export",
        ),
        "a folder holding the cache": (
            ["--sample", "--out", str(holder), "--cache-dir", str(holder / "cache")],
            holder,
            r"the build would write its cache in it \(.+holder/cache\)\.$",
        ),
        "the cache": (
            ["--sample", "--out", str(cache), "--cache-dir", str(cache)],
            cache,
            r"would write its cache in it",
        ),
        "an earlier export as the cache": (
            ["--sample", "--out", str(earlier_export), "--cache-dir", str(earlier_export)],
            earlier_export,
            r"the build would write its cache in it",
        ),
    }


OUT_REFUSALS = [
    "a symbolic link to a folder",
    "the repository",
    "the sample archives",
    "a folder with notes",
    "an export with notes",
    "the card of an export",
    "the data folder",
    "a folder holding the data folder",
    "a folder holding the cache",
    "the cache",
    "an earlier export as the cache",
]


@pytest.mark.parametrize("case", OUT_REFUSALS)
def test_an_out_that_is_not_the_tools_own_is_refused_before_any_work(
    case, tmp_path, earlier_export, monkeypatch, capsys
):
    args, kept, message = out_refusals(tmp_path, earlier_export)[case]
    kept.mkdir(exist_ok=True)
    before = tree(kept)
    cache_before = tree(tmp_path / "cache")
    code, stdout, stderr = export_here(args, monkeypatch, capsys)
    assert code == 1
    assert re.search(r"^tools\.export: error: Refusing to write --out .*" + message, one_error(stderr))
    assert "Getting" not in stderr and "Wrote" not in stdout, "refused before building"
    assert tree(kept) == before
    assert tree(tmp_path / "cache") == cache_before


def test_an_empty_folder_or_an_earlier_export_is_written(tmp_path, earlier_export):
    written = tree(earlier_export)
    assert ".tools-export.json" in written, "the export marks the folder as its own"
    code, _, stderr = export("--sample", "--out", str(earlier_export), "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, stderr
    assert tree(earlier_export) == written, "the same archives give the same bytes"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = export("--sample", "--out", str(empty), "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, stderr
    assert tree(empty) == written
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".empty.lock", ".hub.lock"]


def flag_refusals(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    return {
        "--dry-run without --push": (["--sample", "--dry-run"], 2, r"--dry-run lists what --push would upload"),
        "--num-proc 0": (["--sample", "--num-proc", "0"], 2, r"--num-proc must be 1 or more, not 0"),
        "--num-proc -2": (["--sample", "--num-proc", "-2"], 2, r"--num-proc must be 1 or more, not -2"),
        "empty --data-dir": (["--data-dir", ""], 2, r"argument --data-dir: an empty path is not a folder"),
        "empty --out": (["--sample", "--out", ""], 2, r"argument --out: an empty path is not a folder"),
        "empty --base-url": (["--base-url", ""], 2, r"--base-url is empty"),
        "--data-dir a file": (["--data-dir", str(a_file)], 1, r"--data-dir .+file\.txt is not a folder: give the"),
        "--cache-dir a file": (["--sample", "--cache-dir", str(a_file)], 1, r"file\.txt: File exists$"),
        "--push with --sample": (
            ["--sample", "--push", "someone/fashion_mnist"],
            2,
            r"--push with --sample: a sample build is never published",
        ),
        "--push without a token": (["--push", "someone/fashion_mnist"], 2, r"--push needs a Hugging Face token"),
        "--push a bad repository id": (["--push", "some one/x", "--dry-run"], 2, r"is not a Hub repository id"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "--dry-run without --push",
        "--num-proc 0",
        "--num-proc -2",
        "empty --data-dir",
        "empty --out",
        "empty --base-url",
        "--data-dir a file",
        "--cache-dir a file",
        "--push with --sample",
        "--push without a token",
        "--push a bad repository id",
    ],
)
def test_a_flag_combination_that_cannot_work_is_refused_up_front(case, tmp_path, monkeypatch, capsys):
    args, expected_code, message = flag_refusals(tmp_path)[case]
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "hub")]
    if "--cache-dir" not in args:
        args = [*args, "--cache-dir", str(tmp_path / "cache")]
    code, _, stderr = export_here(args, monkeypatch, capsys)
    assert code == expected_code
    assert re.search(message, one_error(stderr))
    assert "Getting" not in stderr
    assert not (tmp_path / "hub").exists() and not (tmp_path / "cache").exists(), "nothing is built or written"
