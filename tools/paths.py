"""The paths of the tools: the archives' folder checked before any work (tools.export too), and, for the tools other
than tools.export, each output checked before any work and written under a temporary name and renamed into place,
so that an error or a signal leaves each output as it was or whole, never half-written.

    data_dir = paths.check_data_dir(args.data_dir)
    out = paths.check_output_file(args.out, "--out")
    ...
    paths.write_files({out: png})
"""

import os
from pathlib import Path

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


def check_output_file(path: str | Path, option: str) -> Path:
    """Where to write the file that `option` names: `UserError` unless it is a file or nothing, in a folder
    that exists and can be written. A symbolic link is followed: its target is the file written."""
    if str(path) == "":
        raise UserError(f"{option} is empty; it must name the file to write")
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise UserError(f"{option} {path} is a folder; it must name the file to write")
    if target.exists() and not target.is_file():
        raise UserError(f"{option} {path} is not a regular file; it must name the file to write")
    check_output_folder(target.parent, f"{option} {path}")
    return target


def check_output_folder(folder: Path, what: str) -> None:
    """`UserError` unless `folder` exists, is a folder and can be written; `what` names the output."""
    if not folder.exists():
        raise UserError(f"{what}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what}: the folder {folder} cannot be written")


def temporary_name(path: Path) -> Path:
    """A hidden name beside `path`, for this process only."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def write_files(contents: dict[Path, bytes]) -> None:
    """Write each file under a temporary name beside it, then rename them all into place at once: after an
    error or a signal every file is as it was, or every file is new and whole."""
    pending = {}
    try:
        for path, data in contents.items():
            with cli.signals_held():  # a temporary file that exists is one that `pending` holds, to be removed
                # Created like any new file (0o666 less the umask), and never over an existing one.
                descriptor = os.open(temporary_name(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                pending[path] = temporary_name(path)
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
        with cli.signals_held():
            for path, temporary in list(pending.items()):
                os.replace(temporary, path)
                del pending[path]
    finally:
        for temporary in pending.values():
            temporary.unlink(missing_ok=True)
