"""The card and docs/: every relative link and image resolves (in the repository and in the exported folder), and
every command names the environment it runs in."""

import ast
import re
from pathlib import Path

import pytest

import fashion_mnist as fm
from tests.fixtures import REPO
from tools import card, layout

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Python files whose module docstrings and argparse texts (--help) hold commands.
PYTHON_FILES = sorted(
    path
    for pattern in ("*.py", "tools/*.py", "benchmarks/*.py", "examples/*.py", "tests/*.py", "legacy/*.py")
    for path in REPO.glob(pattern)
)
CARD_MAX_LINES = 400
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)\s*\)")
# A Python interpreter run bare, not from a virtual environment: `python -m x`, `python x.py`, `python3 ...`.
# Making a venv with the system's python3 is the one exception.
BARE_PYTHON = re.compile(r"(?<![\w./-])python3?\s+(?!-m\s+venv\b)(-m\s+\S+|\S+\.py)")


def prose(text: str) -> str:
    """Markdown without fenced blocks and inline code, where links are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(text: str) -> set[str]:
    """The anchors of a markdown document's headings, as GitHub and the Hub spell them."""
    slugs = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", prose(text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def relative_links(text: str) -> list[str]:
    return [target for target in LINK.findall(prose(text)) if not re.match(r"[a-z]+:", target)]


def broken_links(document: Path, root: Path) -> list[str]:
    """The relative links and images of `document` that do not resolve inside `root`."""
    broken = []
    for target in relative_links(document.read_text(encoding="utf-8")):
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document.resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor")
    return broken


# The checks themselves.


def test_anchors_follow_the_heading_text():
    text = "# Fast path for training: decode once\n```\n# not a heading\n```\n## Training with 🤗 Transformers"
    assert anchors(text) == {"fast-path-for-training-decode-once", "training-with--transformers"}


def test_links_outside_code_are_found(tmp_path):
    text = "# Top\n[x](b.md) ![p](img.png) [h](https://x.org) `[c](no.md)` [t](#top) [u](#nope)\n"
    (tmp_path / "a.md").write_text(text)
    (tmp_path / "b.md").write_text("b")
    assert broken_links(tmp_path / "a.md", tmp_path) == ["img.png: no such file", "#nope: no heading with that anchor"]


@pytest.mark.parametrize(
    "line", ["python -m tools.export", "python3 benchmarks/bench.py", "run `python -m pytest legacy`"]
)
def test_bare_python_is_found(line):
    assert BARE_PYTHON.search(line)


@pytest.mark.parametrize(
    "line", [".venv/bin/python -m tools.export", "python3 -m venv .venv", ".venv-examples/bin/python x.py"]
)
def test_python_from_a_venv_passes(line):
    assert not BARE_PYTHON.search(line)


# The card and docs/ in the repository.


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_links_and_images_resolve_in_the_repository(document):
    assert relative_links(document.read_text(encoding="utf-8")), "a document linked from the card links back"
    assert broken_links(document, REPO) == []


def test_card_below_its_yaml_is_at_most_400_lines():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]  # after the YAML front matter
    assert len(body.splitlines()) <= CARD_MAX_LINES, "move engineering material to docs/, linked from the card"


def test_card_shows_the_picture_and_links_every_document():
    links = relative_links((REPO / "README.md").read_text(encoding="utf-8"))
    assert "images/examples.png" in links
    for document in DOCUMENTS[1:]:
        assert any(link.partition("#")[0] == document.relative_to(REPO).as_posix() for link in links), document


def test_every_file_the_card_links_to_is_copied_to_the_hub():
    linked = set()
    for document in DOCUMENTS:
        for target in relative_links(document.read_text(encoding="utf-8")):
            path = target.partition("#")[0]
            if path:
                linked.add((document.parent / path).resolve().relative_to(REPO).as_posix())
    assert linked - {"README.md"} == set(layout.CARD_FILES)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_commands_in_the_card_and_docs_name_their_environment(document):
    text = document.read_text(encoding="utf-8")
    assert [match.group(0) for match in BARE_PYTHON.finditer(text)] == []


def _help_texts(path: Path) -> list[str]:
    """The module docstring and every description=, epilog= or help= string of a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    texts = [ast.get_docstring(tree) or ""]
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.keyword) and node.arg in ("description", "epilog", "help")
        if is_text and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            texts.append(node.value.value)
    return texts


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_commands_in_docstrings_and_help_texts_name_their_environment(path):
    found = [match.group(0) for text in _help_texts(path) for match in BARE_PYTHON.finditer(text)]
    assert found == []


def test_the_archive_checksums_to_fetch_with_are_the_builders():
    text = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    listed = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+\.gz)$", text, re.MULTILINE))
    archives = [archive for split in fm.OFFICIAL_SPLITS for archive in (split.images, split.labels)]
    assert listed == {archive.filename: archive.sha256 for archive in archives}


# The exported folder: the card as the Hub shows it, beside the files it links to.


@pytest.fixture(scope="module")
def exported(sample_export) -> Path:
    return sample_export[1]


def test_links_and_images_resolve_in_the_exported_folder(exported):
    documents = [exported / "README.md", *(exported / name for name in layout.CARD_FILES if name.endswith(".md"))]
    for document in documents:
        assert broken_links(document, exported) == [], document.relative_to(exported)
    assert "images/examples.png" in relative_links((exported / "README.md").read_text(encoding="utf-8"))


def test_each_document_on_the_hub_says_where_its_commands_run(exported):
    documents = [name for name in layout.CARD_FILES if name.endswith(".md")]
    assert documents and all(name.startswith("docs/") for name in documents)
    for name in documents:
        repository_text, hub_text = (REPO / name).read_text("utf-8"), (exported / name).read_text("utf-8")
        title, links, _ = repository_text.split("\n\n", 2)
        assert title.startswith("# ") and links.startswith("[The dataset card](../README.md)"), name
        assert hub_text.startswith(f"{title}\n\n{links}\n\n{card.HUB_DOCUMENT_NOTE}\n\n"), name
        assert hub_text.replace(f"{card.HUB_DOCUMENT_NOTE}\n\n", "", 1) == card.hub_text(repository_text), name
