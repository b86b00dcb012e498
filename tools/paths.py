"""The paths of the tools: the archives' folder checked before any work, and every output written whole, so that an
error, a signal or a kill leaves it as it was or new, never half-written:

- files (`write_files`): each written under a temporary name beside it, then all renamed into place;
- a folder (`replacing`, the export): built under a hidden name beside it, then swapped in, the old one removed whole.
"""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

import filelock

import fashion_mnist as fm
from tools import cli
from tools.cli import UserError


def check_data_dir(data_dir: str | Path, splits=fm.OFFICIAL_SPLITS) -> Path:
    """`data_dir` as a Path; `UserError` unless it is a folder that holds each archive of `splits` as a file (the
    builder's check of its `data_dir`). Their contents are verified when they are read."""
    problem = fm.data_dir_problem(str(data_dir), splits, "--data-dir")
    if problem:
        raise UserError(problem)
    return Path(data_dir)


def write_files(contents: dict[Path, bytes]) -> None:
    """Write each file under a temporary name beside it, then rename them all into place at once: after an
    error or a signal every file is as it was, or every file is new and whole."""
    pending = {}
    try:
        for path, data in contents.items():
            temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")  # hidden, this process's own
            with cli.signals_held():  # a temporary file that exists is one that `pending` holds, to be removed
                # Created like any new file (0o666 less the umask), and never over an existing one.
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                pending[path] = temporary
            with os.fdopen(descriptor, "wb") as file, naming(path):
                file.write(data)
        with cli.signals_held():
            for path, temporary in list(pending.items()):
                os.replace(temporary, path)
                del pending[path]
    finally:
        for temporary in pending.values():
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def naming(path: Path):
    """An OSError without a path raised in the block (a write that fills the disk) names `path`."""
    try:
        yield
    except OSError as error:
        if error.filename is not None or not error.strerror:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


@contextlib.contextmanager
def replacing(out: Path, check):
    """Yield a new empty folder beside `out`; once the block ends without error, it becomes `out`, and the folder
    that was `out` is moved aside and removed as a whole. Until then, `out` is as it was.

    One run at a time: the block holds a lock beside `out` (a second run is refused at once, `UserError`). Under it,
    the leftovers of killed runs are removed and `check(out)` says whether `out` may be replaced (it raises if not).
    Nothing is removed through a symbolic link: leftovers that are links are not ours, and `shutil.rmtree` removes
    the links inside a folder, never what they point to."""
    lock = filelock.FileLock(out.with_name(f".{out.name}.lock"), timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise UserError(
            f"Another run is writing {out} (it holds {lock.lock_file}): wait for it to end, then run this again."
        ) from None
    try:
        # Leftovers of killed runs: hidden folders (never symbolic links) with the names that only this gives.
        names = (f".{out.name}.new-", f".{out.name}.old-")
        for leftover in sorted(out.parent.glob(f".{out.name}.*")):
            if not leftover.name.startswith(names) or not leftover.is_dir() or leftover.is_symlink():
                continue
            try:
                shutil.rmtree(leftover)
            except OSError as error:
                message = f"{leftover}, left by a stopped run, cannot be removed ({error}): rm -r {leftover}"
                raise UserError(message) from error
        check(out)
        new = out.with_name(f".{out.name}.new-{secrets.token_hex(4)}")
        new.mkdir()  # as any new folder (0o777 less the umask); never an existing one
        try:
            with naming(out):
                yield new
            check(out)  # again: a file put there since is never removed with the old folder
            old = new.with_name(new.name.replace(".new-", ".old-", 1))
            with cli.signals_held():
                if out.exists():
                    out.rename(old)
                new.rename(out)
        finally:
            shutil.rmtree(new, ignore_errors=True)
        if old.exists():
            try:
                shutil.rmtree(old)
            except OSError as error:
                cli.log(f"{out} is in place, but the previous one is left in {old} ({error}): rm -r {old}")
    finally:
        lock.release()
