"""Fixtures shared by tests/ and legacy/: the official archives, a loopback server for them, and the test session's
one build and export of the sample and of the official archives (tests never change these: they copy them); the
official one is also pushed, to a fake of HfApi."""

import contextlib
import dataclasses
import functools
import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd

import fashion_mnist as fm
from tests.archives import archive_arrays
from tools import export, near_duplicates
from tools.build import build_configs
from tools.common import ARCHIVES_VARIABLE, REPO, archives_dir, load_official
from tools.export import write_folder

SAMPLE_DIR = REPO / fm.SAMPLE_DIR
# The classes in label order, as Hugging Face spells them: written out here as the specification that
# fashion_mnist.CLASS_NAMES and the card are checked against.
CLASS_NAMES = [
    "T - shirt / top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def python(*args: str, env: dict | None = None, cwd: Path = REPO, **options) -> subprocess.Popen:
    """`python ARGS` started in a new process as a user starts it: FASHION_MNIST_DEBUG unset and no progress bars,
    unless `env` (added to this environment) says otherwise; stdout and stderr piped, as text. The tests' one way to
    start a process of ours (`options`: more of `subprocess.Popen`'s)."""
    environment = {**os.environ, "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    environment.pop("FASHION_MNIST_DEBUG", None)
    environment.update(env or {})
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=environment, **pipes, **options)


def run_python(*args: str, timeout: float = 600, **kwargs) -> tuple[int, str, str]:
    """`python(ARGS)` run to its end: (exit code, stdout, stderr)."""
    with python(*args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise AssertionError(f"python {' '.join(args)} ran past {timeout} s; its stderr:\n{stderr}") from None
    return process.returncode, stdout, stderr


def require_official_archives() -> Path:
    """The folder of the four official archives ($FASHION_MNIST_ARCHIVES, else ../shared/fashion-mnist); skip
    without it, but fail in CI, where it must exist."""
    folder = archives_dir()
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        reason = f"the official archives are not in {folder} (set {ARCHIVES_VARIABLE} to their folder)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run the real-archive tests")
        pytest.skip(reason)
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve `directory` over HTTP on 127.0.0.1 at a port the OS picks; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def official_dir() -> Path:
    return require_official_archives()


@pytest.fixture(scope="session")
def official_arrays(official_dir) -> dict[str, tuple]:
    """Split -> (images, labels), read with the tests' own IDX reader after checking the archives' digests."""
    for split in fm.OFFICIAL_SPLITS:
        for archive in (split.images, split.labels):
            assert hashlib.sha256((official_dir / archive.filename).read_bytes()).hexdigest() == archive.sha256
    return {split.split: archive_arrays(official_dir, split.split) for split in fm.OFFICIAL_SPLITS}


@pytest.fixture(scope="session")
def near_duplicate_search(official_dir):
    """The near-duplicate search on the official archives (tools.near_duplicates.search), once per test session:
    the slowest generator (its time: docs/near-duplicates.md)."""
    return near_duplicates.search(load_official(official_dir))


@pytest.fixture(scope="session")
def official_server(official_dir):
    """Base URL of a loopback server holding the official archives."""
    with serve_directory(official_dir) as url:
        yield url


@pytest.fixture(scope="session")
def sample_server():
    """Base URL of a loopback server holding the bundled sample archives."""
    with serve_directory(SAMPLE_DIR) as url:
        yield url


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory):
    """(builders, folder): both configs built from the bundled sample archives, and their export."""
    root = tmp_path_factory.mktemp("sample")
    builders = build_configs(sample=True, cache_dir=root / "cache")
    return builders, write_folder(builders, root / "hub")


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records each call, and holds each branch's files as the Hub would. Each
    commit records its operations with the SHA-256 of every added file's bytes as they were when it was made."""

    def __init__(self, token=None):
        self.token, self.calls, self.commits = token, [], {}
        self.branches = {
            "main": [".gitattributes", "README.md", "fashion_mnist/train-00000-of-00001.parquet"],
            "script": [".gitattributes", "fashion_mnist.py", "old-script.py"],
        }

    def create_repo(self, repo_id, repo_type, exist_ok):
        self.calls.append(("create_repo", repo_id, repo_type, exist_ok))

    def list_repo_files(self, repo_id, repo_type, revision):
        return list(self.branches.get(revision, [".gitattributes"]))

    def create_branch(self, repo_id, branch, repo_type, exist_ok):
        self.calls.append(("create_branch", repo_id, branch, exist_ok))
        self.branches.setdefault(branch, [".gitattributes"])

    def create_commit(self, repo_id, operations, commit_message, repo_type, revision="main"):
        files, recorded = set(self.branches[revision]), {"added": {}, "deleted": []}
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                files.add(op.path_in_repo)
                data = Path(op.path_or_fileobj).read_bytes()
                recorded["added"][op.path_in_repo] = (op.path_or_fileobj, hashlib.sha256(data).hexdigest())
            else:
                files.discard(op.path_in_repo)
                recorded["deleted"].append(op.path_in_repo)
        self.branches[revision] = sorted(files)
        self.commits[revision] = {**recorded, "message": commit_message}
        self.calls.append(("create_commit", repo_id, revision))


def tracked_files() -> list[str]:
    """The files that git tracks in the repository, sorted."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return sorted(name for name in listed.decode("utf-8").split("\0") if name)


@dataclasses.dataclass
class OfficialRun:
    """The session's one `tools.export --push` of the official archives, to a fake of HfApi."""

    builders: dict  # config name -> the builder of the prepared dataset that the run exported
    folder: Path  # --out, the export in place
    hubs: list  # each FakeHub that the run made (one)
    tracked: list  # the files that git tracked in the repository just before the run
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def official_export_run(official_server, tmp_path_factory) -> OfficialRun:
    """Both configs built from the official archives, downloaded from the loopback server as from the real hosts, in
    2 processes; then `tools.export --push` on that cache and a fake of HfApi, which exports, verifies and pushes what
    the build prepared: the test session's one build and export of the official data.

    The build runs outside the command: in a pytest process, a pool worker that inherited the command's SIGTERM
    handler was seen to outlive the pool's terminate(), and the build to wait for it for ever."""
    root = tmp_path_factory.mktemp("official")
    builders = build_configs(base_urls=[official_server], cache_dir=root / "cache", num_proc=2)
    run = OfficialRun(builders=builders, folder=root / "hub", hubs=[], tracked=tracked_files(), stdout="", stderr="")

    def fake_hub(token=None):
        run.hubs.append(FakeHub(token))
        return run.hubs[-1]

    argv = ["--base-url", official_server, "--cache-dir", str(root / "cache"), "--num-proc", "1"]
    argv += ["--out", str(run.folder), "--push", "someone/fm"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", "hf_test")
        patch.setattr(export, "HfApi", fake_hub)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = export.main(argv)
    run.stdout, run.stderr = stdout.getvalue(), stderr.getvalue()
    assert code == 0, run.stderr
    return run


@pytest.fixture(scope="session")
def official_export(official_export_run):
    """(builders, folder): both configs built from the official archives and their export (official_export_run)."""
    return official_export_run.builders, official_export_run.folder
