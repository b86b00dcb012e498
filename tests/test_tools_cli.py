"""tools.regenerate as a user runs it, in its own process, with the errors a user can make (each is one line, exit 1, no
traceback, and nothing written); the output checks and the writing of files that the tools share (tools.paths)."""

import hashlib
import os
import re
import signal
import threading

import pytest
from huggingface_hub import DatasetCard

import fashion_mnist as fm
from tests.fixtures import REPO, SAMPLE_DIR, python, require_official_archives, run_python
from tools import paths, regenerate

ARCHIVES = [archive.filename for split in fm.OFFICIAL_SPLITS for archive in (split.images, split.labels)]
# What the build of regenerate rewrites in the repository.
RECORDED = [REPO / "dataset_infos.json", REPO / "README.md"]


def tool(name, *args, env=None):
    """Run `python -m tools.NAME ARGS` in a fresh process; return (exit code, stdout, stderr)."""
    return run_python("-m", f"tools.{name}", *args, env=env, timeout=300)


def the_error(name, code, stderr) -> str:
    """The one error line of a tool that failed as it should; the assertions that make it so."""
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tools.{name}: error: "), stderr
    return lines[0]


def digests(files):
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def listing(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# Wrong archives' folders.


@pytest.fixture
def data_dirs(tmp_path):
    """Folder name -> (the --data-dir argument, the message it gets): each of them wrong in one way."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "a-file").write_text("not a folder\n")
    wrong_size = cases / "wrong-size"  # the sample archives under the official names
    wrong_size.mkdir()
    for name in ARCHIVES:
        (wrong_size / name).write_bytes((SAMPLE_DIR / name).read_bytes())
    three = cases / "three"
    three.mkdir()
    for name in ARCHIVES[:3]:
        (three / name).write_bytes((SAMPLE_DIR / name).read_bytes())
    wrong_digest = cases / "wrong-digest"  # each archive's size, other bytes
    wrong_digest.mkdir()
    for split in fm.OFFICIAL_SPLITS:
        for archive in (split.images, split.labels):
            (wrong_digest / archive.filename).write_bytes(bytes(archive.num_bytes))
    names = re.escape(", ".join(ARCHIVES))
    images = fm.OFFICIAL_SPLITS[0].images
    return {
        "missing": (
            str(cases / "nowhere"),
            rf"--data-dir \S+/nowhere does not exist: give the folder that holds {names}$",
        ),
        "not a folder": (str(cases / "a-file"), r"--data-dir \S+/a-file is not a folder: give the folder that holds"),
        "empty argument": ("", r"--data-dir is empty: give the folder that holds"),
        "an archive missing": (str(three), r"--data-dir \S+/three has no t10k-labels-idx1-ubyte\.gz: give the"),
        "wrong size": (
            str(wrong_size),
            r"\S+/wrong-size/train-images-idx3-ubyte\.gz: 26,562 bytes, but train-images-idx3-ubyte\.gz has "
            r"26,421,880 bytes \(truncated, or not the archive\)$",
        ),
        "wrong SHA-256": (
            str(wrong_digest),
            rf"\S+/wrong-digest/train-images-idx3-ubyte\.gz: SHA-256 mismatch for train-images-idx3-ubyte\.gz: "
            rf"got [0-9a-f]{{64}}, expected {images.sha256}$",
        ),
    }


@pytest.mark.parametrize(
    "case", ["missing", "not a folder", "empty argument", "an archive missing", "wrong size", "wrong SHA-256"]
)
def test_a_wrong_data_dir_is_one_line_and_nothing_is_written(case, data_dirs):
    data_dir, message = data_dirs[case]
    recorded = digests(RECORDED)
    code, stdout, stderr = tool("regenerate", "--data-dir", data_dir)
    assert re.search(message, the_error("regenerate", code, stderr))
    assert stdout == ""
    assert digests(RECORDED) == recorded


def test_the_default_data_dir_is_the_folder_that_the_environment_names(tmp_path, monkeypatch):
    code, _, stderr = tool("regenerate", env={"FASHION_MNIST_ARCHIVES": str(tmp_path / "elsewhere")})
    assert the_error("regenerate", code, stderr).startswith(
        f"tools.regenerate: error: --data-dir {tmp_path}/elsewhere does not exist: "
    )
    # The tests marked `real` look there too.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("FASHION_MNIST_ARCHIVES", str(tmp_path / "elsewhere"))
    assert require_official_archives() == tmp_path / "elsewhere"


def test_debug_shows_the_traceback(tmp_path):
    for args, env in [(["--debug"], None), ([], {"FASHION_MNIST_DEBUG": "1"})]:
        code, _, stderr = tool("regenerate", "--data-dir", str(tmp_path / "nowhere"), *args, env=env)
        assert code != 0
        assert "Traceback" in stderr and "nowhere does not exist" in stderr


# Writing under a temporary name: an error or a signal leaves each file as it was or whole.


def test_an_error_while_writing_leaves_every_file_as_it_was(tmp_path, monkeypatch):
    first, second = tmp_path / "first.csv", tmp_path / "second.png"
    first.write_bytes(b"old first")
    real_fdopen = os.fdopen
    opened = []

    def fdopen_then_fail(*args, **kwargs):
        opened.append(args)
        if len(opened) == 2:
            raise KeyboardInterrupt
        return real_fdopen(*args, **kwargs)

    monkeypatch.setattr(paths.os, "fdopen", fdopen_then_fail)
    with pytest.raises(KeyboardInterrupt):
        paths.write_files({first: b"new first", second: b"new second"})
    assert first.read_bytes() == b"old first"
    assert listing(tmp_path) == ["first.csv"], "no temporary file is left"


def test_a_signal_during_the_renames_waits_until_every_file_is_in_place(tmp_path, monkeypatch):
    first, second = tmp_path / "first.csv", tmp_path / "second.png"
    first.write_bytes(b"old first")
    second.write_bytes(b"old second")
    real_replace = os.replace

    def replace_then_signal(source, target):
        real_replace(source, target)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(paths.os, "replace", replace_then_signal)
    # Python's own SIGINT handler, whatever the run started with (a shell starts background jobs with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    # Another thread, as in a process serving files: a process-directed signal may be delivered to it.
    done = threading.Event()
    other = threading.Thread(target=done.wait, daemon=True)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            paths.write_files({first: b"new first", second: b"new second"})
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
    assert (first.read_bytes(), second.read_bytes()) == (b"new first", b"new second")
    assert listing(tmp_path) == ["first.csv", "second.png"]


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        paths.write_files({tmp_path / "new.csv": b"x"})
    finally:
        os.umask(mask)
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o644


def test_the_recorded_card_keeps_the_repository_only_parts(sample_export):
    card = DatasetCard(regenerate.recorded(None, *sample_export)[1])
    assert "<!-- repo-only -->" in card.text
    assert card.text == DatasetCard.load(RECORDED[1]).text, "the repository's text is kept"
    assert card.data == DatasetCard.load(sample_export[1] / "README.md").data, "with the YAML of the export's card"


@pytest.mark.real
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_regenerate_stopped_while_building_is_one_line_and_writes_nothing(signum, official_dir, tmp_path):
    recorded = digests(RECORDED)
    environment = {"HF_DATASETS_DISABLE_PROGRESS_BARS": "0", "TMPDIR": str(tmp_path)}
    process = python("-m", "tools.regenerate", "--data-dir", str(official_dir), env=environment)
    stderr = ""
    try:
        while "Generating train split" not in stderr:  # progress bars end with \r, not \n: read by character
            character = process.stderr.read(1)
            assert character, f"the build ended before it generated anything: {stderr}"
            stderr += character
        process.send_signal(signum)
        stdout, rest = process.communicate(timeout=120)
    finally:
        process.kill()
    output = stderr + rest
    assert process.returncode == 128 + signum
    # The line may follow a progress bar that the signal cut short, on the same line of the terminal.
    assert output.endswith(f"tools.regenerate: stopped by {signum.name}; nothing half-written was left\n")
    assert output.count("tools.regenerate:") == 1 and "Traceback" not in output
    assert stdout == ""
    assert digests(RECORDED) == recorded
    assert listing(tmp_path) == [], "the build's temporary cache is removed"
