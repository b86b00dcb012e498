"""Cut the bundled sample archives (dummy/) from the official ones.

    .venv/bin/python -m tools.make_sample --data-dir ../shared/fashion-mnist

Writes the first examples of each split, repacked in the official IDX gzip format, and prints the
size and SHA-256 of each file for SAMPLE_SPLITS in fashion_mnist.py. The four archives in `--out` (default dummy/,
created if missing) are replaced together (tools.paths.write_files); a file of an archive's name that is not an
earlier sample archive is refused, and other files are left as they are.
"""

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

import fashion_mnist as fm
from tools import cli, common, paths
from tools.idx import gzip_bytes, idx_bytes


def official_arrays(data_dir: Path) -> dict[str, np.ndarray]:
    """Archive file name -> its images or labels, read from the verified official archives in `data_dir`."""
    splits = common.load_official(data_dir)
    return {
        archive.filename: array
        for split in fm.OFFICIAL_SPLITS
        for archive, array in zip((split.images, split.labels), splits[split.split], strict=True)
    }


def cut(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """File name -> bytes of each sample archive: the first examples of each official archive's array."""
    archives = {}
    for official, sample in zip(fm.OFFICIAL_SPLITS, fm.SAMPLE_SPLITS, strict=True):
        for archive in (official.images, official.labels):
            archives[archive.filename] = gzip_bytes(idx_bytes(arrays[archive.filename][: sample.num_examples]))
    return archives


def sample_archives(data_dir: Path) -> dict[str, bytes]:
    """File name -> bytes of each sample archive, cut from the verified official archives."""
    return cut(official_arrays(Path(data_dir)))


def is_a_sample(path: Path, official: np.ndarray) -> bool:
    """Whether the file at `path` is what this tool writes: a gzip IDX archive of the first examples of
    `official` (fewer than all of them), whatever number of examples it was cut with."""
    try:
        payload = fm.gunzip(path.read_bytes(), str(path))
        read = fm.read_images if official.ndim == 3 else fm.read_labels
        array = read(payload, str(path))
    except (OSError, fm.ArchiveError):
        return False
    return len(array) < len(official) and np.array_equal(array, official[: len(array)])


def check_out(out: str, data_dir: Path) -> Path:
    """The folder to write: `UserError` unless it is a folder, or nothing in a folder that can be written."""
    if out == "":
        raise cli.UserError("--out is empty; it must name the folder to write the sample archives in")
    target = Path(os.path.realpath(out))
    if target.exists():
        if not target.is_dir():
            raise cli.UserError(f"--out {out} is not a folder")
        if target.samefile(data_dir):
            raise cli.UserError(f"--out {out} is the --data-dir: the sample would replace the official archives")
        paths.check_output_folder(target, f"--out {out}")
    else:
        paths.check_output_folder(target.parent, f"--out {out}")
    return target


def check_overwrites(out: Path, arrays: dict[str, np.ndarray]) -> None:
    """`UserError` if a file that would be replaced in `out` is not a sample archive cut by this tool."""
    for name, official in arrays.items():
        path = out / name
        if path.is_symlink():
            raise cli.UserError(
                f"--out {out} holds {name} as a symbolic link; it is left as it is: choose another --out"
            )
        if path.exists() and not is_a_sample(path, official):
            raise cli.UserError(
                f"--out {out} holds {name}, which is not a sample archive cut from the official {name}; "
                "it is left as it is: move it away or choose another --out"
            )


def make(data_dir: str, out: str) -> None:
    data_dir = paths.check_data_dir(data_dir)
    target = check_out(out, data_dir)
    arrays = official_arrays(data_dir)
    if target.exists():
        check_overwrites(target, arrays)
    archives = cut(arrays)
    target.mkdir(exist_ok=True)
    paths.write_files({target / name: data for name, data in archives.items()})
    for name, data in archives.items():
        print(f'Archive("{name}", {len(data):_}, "{hashlib.sha256(data).hexdigest()}")')


def main(argv=None) -> int:
    parser = cli.tool_parser(__doc__)
    parser.add_argument(
        "--out",
        default=str(common.REPO / fm.SAMPLE_DIR),
        help="folder to write, created if missing; only earlier sample archives in it are replaced (default: dummy/)",
    )
    args = parser.parse_args(argv)
    return cli.run("tools.make_sample", lambda: make(args.data_dir, args.out), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
