"""Every generated file of the repository is what its generator makes of the official archives (tools.regenerate)."""

import pytest

import fashion_mnist as fm
from tests.fixtures import REPO
from tools import cli, common
from tools import regenerate as rg

# What the repository generates from the archives, written out here as the specification.
GENERATED = [
    "README.md",
    "dataset_infos.json",
    "near_duplicates.csv",
    "docs/near-duplicates.md",
    "docs/label-issues.md",
    "images/near_duplicates.png",
    "images/examples.png",
    "images/label_issues.png",
    *(f"dummy/{archive.filename}" for split in fm.SAMPLE_SPLITS for archive in (split.images, split.labels)),
]


@pytest.mark.real
def test_every_generated_file_is_what_the_generators_make_of_the_archives(
    official_dir, near_duplicate_search, official_export
):
    generated = rg.generate(official_dir, found=near_duplicate_search, exported=official_export)
    assert sorted(rg.relative(path) for path in generated) == sorted(GENERATED)
    stale = rg.differing(generated)
    assert stale == [], "".join(rg.diff(path, generated[path]) for path in stale) + f"\nrun {rg.COMMAND}"


# Putting tables and items in place.

TEXT = "# A\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\ntext\n\n| c |\n| --- |\n| 3 |\n"


def test_put_replaces_the_table_with_the_same_header_and_nothing_else():
    table = "| a | b |\n| --- | --- |\n| 5 | 6 |\n| 7 | 8 |"
    expected = "# A\n\n| a | b |\n| --- | --- |\n| 5 | 6 |\n| 7 | 8 |\n\ntext\n\n| c |\n| --- |\n| 3 |\n"
    assert rg.put(TEXT, [table], REPO / "README.md") == expected


@pytest.mark.parametrize(("text", "count"), [(TEXT.replace("| a | b |", "| a | x |"), 0), (TEXT + TEXT, 2)])
def test_put_refuses_a_header_found_other_than_once(text, count):
    message = rf"^README\.md has {count} tables with the header \| a \| b \|, not one$"
    with pytest.raises(cli.UserError, match=message):
        rg.put(text, ["| a | b |\n| --- | --- |\n| 5 | 6 |"], REPO / "README.md")


def test_put_replaces_an_item_with_its_continuation_lines():
    text = "- **One:** old\n  more old\n- **Two:** kept\n  kept too\n"
    new = "- **One:** new\n  on\n  three lines"
    assert rg.put(text, [new], REPO / "README.md") == new + "\n- **Two:** kept\n  kept too\n"
    with pytest.raises(cli.UserError, match=r"^README\.md has 0 list items that start with - \*\*Three"):
        rg.put(text, ["- **Three:** new"], REPO / "README.md")


def test_put_puts_each_block_in_turn_tables_and_items_alike():
    text = "- **One:** old\n  more old\n\n" + TEXT
    blocks = ["| c |\n| --- |\n| 4 |", "- **One:** new", "| a | b |\n| --- | --- |\n| 9 | 9 |"]
    expected = "- **One:** new\n\n# A\n\n| a | b |\n| --- | --- |\n| 9 | 9 |\n\ntext\n\n| c |\n| --- |\n| 4 |\n"
    assert rg.put(text, blocks, REPO / "README.md") == expected


# The command line, on files made here.


@pytest.fixture
def archives(tmp_path):
    """A folder that passes the check of --data-dir: files of the archives' names (what they hold is not read)."""
    folder = tmp_path / "archives"
    folder.mkdir()
    for split in fm.OFFICIAL_SPLITS:
        for archive in (split.images, split.labels):
            (folder / archive.filename).write_bytes(b"")
    return folder


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A repository of two files, one of which differs from what `generate` makes."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "same.md").write_text("same\n")
    (root / "stale.md").write_text("old\n")
    generated = {root / "same.md": b"same\n", root / "stale.md": b"new\n"}
    monkeypatch.setattr(common, "REPO", root)
    monkeypatch.setattr(rg, "generate", lambda data_dir: generated)
    return root


def test_check_lists_what_differs_and_writes_nothing(archives, repository, capsys):
    assert rg.main(["--check", "--data-dir", str(archives)]) == 1
    out, err = capsys.readouterr()
    assert out == "--- a/stale.md\n+++ b/stale.md\n@@ -1 +1 @@\n-old\n+new\n"
    assert err == f"tools.regenerate: error: out of date: stale.md (run {rg.COMMAND})\n"
    assert (repository / "stale.md").read_text() == "old\n"


def test_without_check_it_rewrites_what_differs(archives, repository, capsys):
    assert rg.main(["--data-dir", str(archives)]) == 0
    assert capsys.readouterr().out == "Rewrote stale.md\n"
    assert (repository / "stale.md").read_text() == "new\n"
    assert sorted(path.name for path in repository.iterdir()) == ["same.md", "stale.md"]
    assert rg.main(["--check", "--data-dir", str(archives)]) == 0
    assert capsys.readouterr().out == "Up to date: the 2 generated files\n"
