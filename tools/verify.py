"""Check an exported folder end to end. (Placeholder until the full check lands: it only reads the card.)"""

from pathlib import Path

from tools.layout import SAMPLE_WARNING


class VerificationError(Exception):
    """An export folder is not a complete, intact export; the message names the first thing wrong."""


def verify_folder(folder: Path) -> str:
    """Raise `VerificationError` unless `folder` is an intact export; return its config: "fashion_mnist" for the
    official archives, "sample" for the bundled sample."""
    card = Path(folder) / "README.md"
    if not card.is_file():
        raise VerificationError(f"{folder} is not an export: it has no README.md")
    return "sample" if SAMPLE_WARNING in card.read_text("utf-8") else "fashion_mnist"
