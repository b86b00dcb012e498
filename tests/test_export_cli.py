"""tools.export as a user runs it: in its own process, with the errors a user can make."""

import hashlib
import os
import re
import subprocess
import sys

import pytest

from tests.fixtures import REPO, SAMPLE_DIR, serve_directory

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def run(args, env=None, cwd=REPO, timeout=600):
    """Run a Python command line in a fresh process; return (exit code, stdout, stderr)."""
    environment = {**os.environ, "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", **(env or {})}
    environment.pop("FASHION_MNIST_DEBUG", None)
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, done.stdout, done.stderr


def export(*args, env=None):
    return run(["-m", "tools.export", *args], env=env)


def digests(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


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
    code, _, stderr = run([arg.format(tmp=tmp_path) for arg in SAMPLE_BUILDS[how]], env={**home, **OFFLINE})
    assert code == 0, stderr
    if how == "the README's setup command":
        assert not (tmp_path / "hf-home" / "datasets").exists(), "the export builds in a cache of its own"
    code, stdout, stderr = run(["-c", LOAD_FASHION_MNIST], env={**home, **OFFLINE}, cwd=tmp_path)
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
        "missing folder": (["--data-dir", str(tmp_path / "nowhere")], r"data_dir .*nowhere is not a folder"),
        "wrong folder": (["--data-dir", str(tmp_path)], r"data_dir .* has no train-images-idx3-ubyte\.gz"),
        "bad archive": (["--data-dir", str(bad_archives)], r"train-images-idx3-ubyte\.gz: 26,562 bytes, but"),
        "every host down": (
            ["--base-url", down_url],
            r"Could not get a valid train-images-idx3-ubyte\.gz from any host",
        ),
        "sample to --push": (["--sample", "--push", "someone/fashion_mnist"], r"Refusing to publish a sample build"),
    }


@pytest.fixture
def down_url(tmp_path):
    """The URL of a loopback server that has stopped: connections to it are refused."""
    with serve_directory(tmp_path) as url:
        pass
    return url


@pytest.mark.parametrize(
    "case", ["missing folder", "wrong folder", "bad archive", "every host down", "sample to --push"]
)
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
    assert "Traceback" in stderr and "is not a folder" in stderr


def test_help_shows_every_default():
    code, stdout, _ = export("--help", env={"COLUMNS": "400"})  # one line per option
    assert code == 0
    for default in (
        f"folder to write (default: {REPO / 'build' / 'hub'})",
        f"datasets cache for the build (default: {REPO / 'build' / 'cache'})",
        f"processes that encode images (default: {os.cpu_count()})",
        "(repeatable, tried in order; default: https://github.com/zalandoresearch/fashion-mnist/raw/master/data/"
        "fashion/, then http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)",
    ):
        assert default in stdout


@pytest.mark.slow
def test_full_export_shows_progress_and_publishing_it_needs_no_rebuild(official_server, tmp_path):
    out = tmp_path / "hub"
    code, stdout, stderr = export(
        "--base-url", official_server, "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
        env={"HF_DATASETS_DISABLE_PROGRESS_BARS": "0"},
    )  # fmt: skip
    assert code == 0, stderr
    stages = [
        f"Getting train-images-idx3-ubyte.gz from {official_server}train-images-idx3-ubyte.gz",
        "Verified train-images-idx3-ubyte.gz: 26,421,880 bytes, SHA-256 3aede38d",
        "Checked the train split: 60,000 images and labels",
        "Verified t10k-labels-idx1-ubyte.gz: 5,148 bytes",
        "Generating train split: 60000 examples",
        "Generating test split: 10000 examples",
        "Writing fashion_mnist/train-*.parquet (60,000 rows, 8 files)",
        "Writing fashion_mnist/test-*.parquet (10,000 rows, 8 files)",
    ]
    positions = [stderr.find(stage) for stage in stages]
    assert -1 not in positions, [stage for stage, at in zip(stages, positions, strict=True) if at == -1]
    assert positions == sorted(positions), "the stages come in build order"
    assert f"Wrote {out}" in stdout

    before = digests(out)
    code, stdout, stderr = export("--out", str(out), "--push", "someone/fashion_mnist", "--dry-run", env=OFFLINE)
    assert code == 0, stderr
    assert f"Publishing the existing export in {out}" in stderr
    assert "Generating" not in stderr and "Getting" not in stderr, "no build, no download"
    main_files = sorted(str(path) for path in before)
    listed = stdout.split("Would push to someone/fashion_mnist@script:")[0].splitlines()
    assert listed == ["Would push to someone/fashion_mnist@main:", *(f"  add {name}" for name in main_files)]
    assert "Would push to someone/fashion_mnist@script:\n  add fashion_mnist.py" in stdout
    assert digests(out) == before


def test_a_folder_short_of_rows_is_not_published(tmp_path):
    folder = tmp_path / "hub"
    code, _, stderr = export("--sample", "--out", str(folder), "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, stderr
    card = folder / "README.md"
    card.write_text(card.read_text().replace("> **Sample build.**", "> Sample"))  # the warning edited away
    code, stdout, stderr = export("--out", str(folder), "--push", "someone/fashion_mnist", "--dry-run", env=OFFLINE)
    assert code == 1
    assert f"Refusing to publish {folder}: README.md: dataset_info.splits gives the train split 60 examples" in stderr
    assert "Would push" not in stdout
