"""Check an exported folder end to end. (Stub: the interface that tools.export relies on.)"""

from pathlib import Path


class VerificationError(Exception):
    """An export folder is not a complete, intact export; the message names the first thing wrong."""


def verify_folder(folder: Path) -> str:
    """Raise `VerificationError` unless `folder` is an intact export; return its config: "fashion_mnist" for the
    official archives, "sample" for the bundled sample."""
    raise NotImplementedError
