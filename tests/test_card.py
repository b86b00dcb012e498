"""The dataset card (README.md): its metadata, its tables against the official archives, its and docs/ snippets."""

import collections
import hashlib
import importlib.util
import os
import re
from decimal import Decimal
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets.info import DatasetInfosDict
from datasets.packaged_modules.parquet.parquet import Parquet
from huggingface_hub import DatasetCard

import fashion_mnist as fm
from tests.fixtures import CLASS_NAMES, REPO, run_python, tracked_files
from tools import card_stats, common, layout

CARD = REPO / "README.md"
# The labels as the official README describes them: Hugging Face's class names but for the first one's spelling.
OFFICIAL_DESCRIPTIONS = ["T-shirt/top", *CLASS_NAMES[1:]]
# MD5 digests published in the official README, beside the SHA-256 digests the builder verifies.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
SPLITS = [split.split for split in fm.OFFICIAL_SPLITS]
HUB_ID_LOAD = 'load_dataset("fashion_mnist"'
LOCAL_LOAD = 'load_dataset("build/hub"'
# The frameworks of examples/requirements.txt that card snippets import: such snippets run in its environment.
FRAMEWORKS = ("torch", "jax", "keras")
EXAMPLES_MARKER = "torch"  # the environment that has it is the examples environment
# What the Hub card must not tell a visitor of the dataset's page to run: the environments, examples, benchmarks and
# tools are the source tree's, in the Hub repository's `script` branch, and docs/ (whose note says so) runs them.
DEVELOPMENT_MENTIONS = (".venv", "examples/", "benchmarks/", "tools.")
# A file, or a module run with -m, that the card or docs/ names: `tools/export.py`, `-m examples.find_label_issues`.
NAMED_FILE = re.compile(r"(?<![\w./-])((?:\.ci|benchmarks|docs|dummy|examples|images|legacy|tests|tools)/[\w./-]*\w)")
NAMED_MODULE = re.compile(r"-m\s+((?:benchmarks|examples|tools)\.\w+)")


def card_text() -> str:
    return CARD.read_text(encoding="utf-8")


# Reading the card's markdown.


def _unfenced_lines(text: str):
    """(line, inside a fenced code block) for each line."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            yield line, True
        else:
            yield line, fenced


def _heading(line: str) -> str | None:
    match = re.fullmatch(r"#{1,6}\s+(.*?)\s*", line)
    return match.group(1) if match else None


def parse_table(lines) -> list[list[str]]:
    """Rows of a markdown table (header first, separator dropped), without backticks or surrounding spaces."""
    rows = []
    for line in lines:
        cells = [cell.replace("`", "").strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        rows.append(cells)
    return rows


def table_under(text: str, heading: str) -> list[list[str]]:
    """The first table after the one heading titled `heading`, before the next heading."""
    lines = list(_unfenced_lines(text))
    starts = [i for i, (line, fenced) in enumerate(lines) if not fenced and _heading(line) == heading]
    assert len(starts) == 1, f"README.md should have exactly one heading {heading!r}, found {len(starts)}"
    table = []
    for line, fenced in lines[starts[0] + 1 :]:
        if not fenced and _heading(line) is not None:
            break
        if not fenced and line.startswith("|"):
            table.append(line)
        elif table:
            break
    assert table, f"no table under the heading {heading!r} in README.md"
    return parse_table(table)


def as_dicts(table: list[list[str]]) -> list[dict[str, str]]:
    header, *rows = table
    return [dict(zip(header, row, strict=True)) for row in rows]


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def runnable_snippets(text: str) -> list[tuple[str, str | None]]:
    """(code, expected output) of each Python block marked `<!-- runnable -->`; the expected output is
    the `text` block that directly follows it, if any."""
    pattern = re.compile(
        r"<!-- runnable -->\n```python\n(?P<code>.*?)```\n(?:\n```text\n(?P<output>.*?)```\n)?", re.DOTALL
    )
    return [(m["code"], m["output"]) for m in pattern.finditer(text)]


# Metadata.


def test_yaml_front_matter_has_the_hub_metadata():
    data = DatasetCard.load(CARD).data
    assert data.license == "mit"
    assert data.task_categories == ["image-classification"]
    assert data.task_ids == ["multi-class-image-classification"]
    assert data.size_categories == ["10K<n<100K"]
    assert data.pretty_name == "Fashion-MNIST"
    assert data.paperswithcode_id == "fashion-mnist"
    assert data.annotations_creators == ["expert-generated"]
    assert data.source_datasets == ["original"]
    # There is no text in the dataset, so no language.
    assert data.language is None
    assert "language" not in data.to_dict()


def test_yaml_configs_describe_the_hub_layout():
    assert DatasetCard.load(CARD).data["configs"] == layout.CONFIGS


def test_yaml_dataset_info_matches_the_builder():
    infos = DatasetInfosDict.from_dataset_card_data(DatasetCard.load(CARD).data)
    info = infos["fashion_mnist"]
    assert info.features == datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=fm.CLASS_NAMES)}
    )
    assert {name: split.num_examples for name, split in info.splits.items()} == {
        split.split: split.num_examples for split in fm.OFFICIAL_SPLITS
    }


def test_card_has_no_unfilled_sections():
    assert "[More Information Needed]" not in card_text()


def test_card_cites_the_paper_as_the_builder_does():
    assert fm._CITATION.strip() in card_text()


def test_class_table_lists_the_classlabel_names_and_official_descriptions():
    table = table_under(card_text(), card_stats.CLASSES_HEADING)
    assert table[0] == ["label", "ClassLabel name", "official description", *SPLITS]
    per_class = [row[:3] for row in table[1:-1]]
    assert per_class == [[str(i), name, OFFICIAL_DESCRIPTIONS[i]] for i, name in enumerate(CLASS_NAMES)]
    assert table[-1][:3] == ["", "total", ""]
    assert list(card_stats.OFFICIAL_DESCRIPTIONS) == OFFICIAL_DESCRIPTIONS


def test_normalization_constants_in_the_snippet_are_the_training_statistics():
    text = card_text()
    match = re.search(r"^MEAN, STD = (\S+), (\S+)(?:\s+#.*)?$", text, re.MULTILINE)
    assert match, "the numpy snippet should set MEAN, STD"
    train = next(row for row in as_dicts(table_under(text, card_stats.PIXELS_HEADING)) if row["split"] == "train")
    assert (match[1], match[2]) == (train["mean (0-1)"], train["std (0-1)"])


# The statistics functions, on arrays made here.


def test_class_counts_counts_every_class():
    assert card_stats.class_counts(np.array([0, 3, 3, 9], np.uint8)) == [1, 0, 0, 2, 0, 0, 0, 0, 0, 1]


def test_pixel_stats_are_the_population_mean_and_std():
    images = np.random.default_rng(0).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    stats = card_stats.pixel_stats(images)
    assert (stats.num_images, stats.num_pixels) == (50, 50 * 784)
    assert float(stats.mean) == pytest.approx(images.mean(dtype=np.float64), abs=1e-12)
    assert float(stats.std) == pytest.approx(images.std(dtype=np.float64, ddof=0), abs=1e-12)


def _images(*values):
    """One constant 28x28 image per value."""
    return np.stack([np.full((28, 28), v, np.uint8) for v in values])


def test_duplicates_within_counts_copies_groups_and_label_conflicts():
    images = _images(1, 2, 1, 3, 2, 1, 4)
    labels = np.array([5, 0, 5, 1, 7, 5, 2], np.uint8)
    # Value 1: three copies, all labeled 5. Value 2: two copies labeled 0 and 7.
    assert card_stats.duplicates_within(images, labels) == card_stats.Duplicates(
        num_images=7, images_with_copy=5, groups=2, conflicting_groups=1
    )
    assert card_stats.duplicates_within(_images(1, 2, 3), np.zeros(3, np.uint8)).images_with_copy == 0


def test_duplicates_within_tells_images_apart_by_any_pixel():
    images = _images(0, 0)
    images[1, 27, 27] = 1
    assert card_stats.duplicates_within(images, np.zeros(2, np.uint8)).groups == 0


def test_duplicates_across_counts_test_images_found_in_train():
    train = _images(1, 2, 3, 3), np.array([1, 2, 3, 3], np.uint8)
    test = _images(3, 4, 1, 1, 5), np.array([3, 4, 9, 1, 5], np.uint8)
    # Test images 0, 2 and 3 occur in train; they are 2 distinct images; image 1 has labels 1 and 9.
    assert card_stats.duplicates_across(train, test) == card_stats.Duplicates(
        num_images=5, images_with_copy=3, groups=2, conflicting_groups=1
    )


def test_markdown_tables_parse_back():
    table = common.markdown_table(["a", "b"], [[1, "`x y`"], ["", "2,000"]])
    assert parse_table(table.splitlines()) == [["a", "b"], ["1", "x y"], ["", "2,000"]]


# The card's numbers against the official archives.


@pytest.mark.real
def test_examples_per_class_in_the_card_match_the_archives(official_arrays):
    rows = as_dicts(table_under(card_text(), card_stats.CLASSES_HEADING))
    per_class, total = rows[:-1], rows[-1]
    assert [row["label"] for row in per_class] == [str(i) for i in range(10)]
    assert [row["ClassLabel name"] for row in per_class] == fm.CLASS_NAMES
    for split in SPLITS:
        labels = official_arrays[split][1]
        assert [number(row[split]) for row in per_class] == np.bincount(labels, minlength=10).tolist()
        assert number(total[split]) == len(labels)


@pytest.mark.real
def test_pixel_statistics_in_the_card_match_the_archives(official_arrays):
    rows = {row["split"]: row for row in as_dicts(table_under(card_text(), card_stats.PIXELS_HEADING))}
    assert list(rows) == SPLITS
    for split in SPLITS:
        images = official_arrays[split][0]
        row = rows[split]
        assert number(row["images"]) == len(images)
        assert number(row["pixels"]) == images.size
        mean, std = images.mean(dtype=np.float64), images.std(dtype=np.float64)  # population std: ddof=0
        for column, value in [
            ("mean (0-255)", mean),
            ("std (0-255)", std),
            ("mean (0-1)", mean / 255),
            ("std (0-1)", std / 255),
        ]:
            shown = Decimal(row[column])
            assert shown.as_tuple().exponent == -card_stats.STAT_DECIMALS, f"{split} {column}: {row[column]}"
            assert abs(float(shown) - value) <= 0.5 * 10**-card_stats.STAT_DECIMALS + 1e-9, (split, column, value)


def _duplicate_counts(keys, labels):
    """(images with a copy, groups, groups with conflicting labels) by plain Python counting."""
    groups = collections.defaultdict(list)
    for key, label in zip(keys, labels, strict=True):
        groups[key].append(label)
    repeated = [group for group in groups.values() if len(group) > 1]
    return sum(map(len, repeated)), len(repeated), sum(len(set(group)) > 1 for group in repeated)


@pytest.mark.real
def test_duplicate_counts_in_the_card_match_the_archives(official_arrays):
    rows = {row["comparison"]: row for row in as_dicts(table_under(card_text(), card_stats.DUPLICATES_HEADING))}
    columns = ["images with an identical copy", "duplicate groups", "groups with conflicting labels"]
    keys = {split: [image.tobytes() for image in official_arrays[split][0]] for split in SPLITS}
    labels = {split: official_arrays[split][1].tolist() for split in SPLITS}
    for split in SPLITS:
        row = rows[f"within {split}"]
        assert number(row["images"]) == len(keys[split])
        assert tuple(number(row[c]) for c in columns) == _duplicate_counts(keys[split], labels[split])

    train_labels = collections.defaultdict(set)
    for key, label in zip(keys["train"], labels["train"], strict=True):
        train_labels[key].add(label)
    in_train = [key in train_labels for key in keys["test"]]
    shared = {key: set(train_labels[key]) for key in keys["test"] if key in train_labels}
    for key, label in zip(keys["test"], labels["test"], strict=True):
        if key in shared:
            shared[key].add(label)
    row = rows["test against train"]
    assert number(row["images"]) == len(keys["test"])
    assert tuple(number(row[c]) for c in columns) == (
        sum(in_train),
        len(shared),
        sum(len(group) > 1 for group in shared.values()),
    )


@pytest.mark.real
def test_archive_table_in_the_card_matches_the_files(official_dir):
    rows = as_dicts(table_under(card_text(), card_stats.ARCHIVES_HEADING))
    archives = [archive for split in fm.OFFICIAL_SPLITS for archive in (split.images, split.labels)]
    assert [row["file"] for row in rows] == [archive.filename for archive in archives]
    for row, archive in zip(rows, archives, strict=True):
        data = (official_dir / archive.filename).read_bytes()
        assert number(row["bytes"]) == archive.num_bytes == len(data)
        assert row["SHA-256"] == archive.sha256 == hashlib.sha256(data).hexdigest()
        assert row["MD5"] == OFFICIAL_MD5[archive.filename] == hashlib.md5(data).hexdigest()


@pytest.mark.real
def test_content_digests_in_the_docs_are_those_of_the_archives_and_the_builder(official_arrays):
    faults = (REPO / "docs" / "faults.md").read_text(encoding="utf-8")
    rows = as_dicts(table_under(faults, "Content digests"))
    assert [row["split"] for row in rows] == SPLITS
    for row, split in zip(rows, fm.OFFICIAL_SPLITS, strict=True):
        images, labels = official_arrays[split.split]
        assert number(row["examples"]) == split.num_examples == len(images) == len(labels)
        pixels_sha256 = hashlib.sha256(images.tobytes()).hexdigest()
        labels_sha256 = hashlib.sha256(labels.tobytes()).hexdigest()
        assert (row["SHA-256 of the pixels"], row["SHA-256 of the labels"]) == (pixels_sha256, labels_sha256)
        assert (split.pixels_sha256, split.labels_sha256) == (pixels_sha256, labels_sha256)


# The usage snippets of the card and of docs/, run against an export of the sample archives.

DOCS = sorted((REPO / "docs").glob("*.md"))
SNIPPETS = [
    (path.relative_to(REPO).as_posix(), code, output)
    for path in [CARD, *DOCS]
    for code, output in runnable_snippets(path.read_text(encoding="utf-8"))
]


def test_card_has_runnable_snippets_that_load_the_dataset():
    assert len(runnable_snippets(card_text())) >= 4  # load, stream, numpy arrays, PyTorch/JAX/Keras arrays
    assert len(SNIPPETS) >= 6  # and in docs/: the fast path, the exported folder
    for _, code, _ in SNIPPETS:
        assert HUB_ID_LOAD in code or LOCAL_LOAD in code, code


def _isolated_env(root):
    env = dict(os.environ)
    env.update(
        HF_HOME=str(root / "hf_home"),
        HF_DATASETS_CACHE=str(root / "datasets_cache"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        KERAS_HOME=str(root / "keras_home"),
    )
    return env


@pytest.fixture(scope="module")
def snippet_dir(tmp_path_factory):
    """A folder holding build/hub: the export of the sample archives, as `tools.export` writes it."""
    root = tmp_path_factory.mktemp("card_snippets")
    out, cache = str(root / "build" / "hub"), str(root / "build_cache")
    code, _, stderr = run_python(
        "-m", "tools.export", "--sample", "--out", out, "--cache-dir", cache, env=_isolated_env(root)
    )
    assert code == 0, stderr
    return root


def _on_the_sample(output: str) -> str:
    """The output a snippet documents for the full dataset, as it reads on the sample export."""
    for official, sample in zip(fm.OFFICIAL_SPLITS, fm.SAMPLE_SPLITS, strict=True):
        output = output.replace(f"num_rows: {official.num_examples}", f"num_rows: {sample.num_examples}")
    return output


def frameworks_missing(code: str) -> list[str]:
    """The frameworks that `code` imports and this environment lacks."""
    imported = re.findall(rf"^\s*(?:import|from)\s+({'|'.join(FRAMEWORKS)})\b", code, re.MULTILINE)
    return sorted({name for name in imported if importlib.util.find_spec(name) is None})


@pytest.mark.parametrize(
    ("document", "code", "output"), SNIPPETS, ids=[f"{document}:{i}" for i, (document, _, _) in enumerate(SNIPPETS)]
)
def test_snippet_runs_and_prints_what_the_card_shows(document, code, output, snippet_dir):
    missing = frameworks_missing(code)
    if missing and importlib.util.find_spec(EXAMPLES_MARKER) is None:
        pytest.skip(f"needs {', '.join(missing)}: runs in the examples environment (README.md, its setup commands)")
    # In the examples environment, a framework that a snippet needs is a requirement: missing, the test fails.
    assert not missing, f"{document}: {', '.join(missing)} missing: install examples/requirements.txt"
    # The Hub cannot be reached from the tests: the same call reads the local export instead.
    local_code = code.replace(HUB_ID_LOAD, LOCAL_LOAD)
    status, stdout, stderr = run_python("-c", local_code, cwd=snippet_dir, env=_isolated_env(snippet_dir))
    assert status == 0, f"{document}:\n{local_code}\n{stderr}"
    if output is not None:
        assert stdout.strip() == _on_the_sample(output).strip()


def test_the_hub_card_sends_no_visitor_to_development_commands(snippet_dir):
    hub_card = (snippet_dir / "build" / "hub" / "README.md").read_text(encoding="utf-8")
    found = {mention: hub_card.count(mention) for mention in DEVELOPMENT_MENTIONS if mention in hub_card}
    assert not found, f"the Hub card mentions what only the repository holds: {found}"


def test_every_file_that_the_card_and_docs_name_is_in_the_script_branch():
    """On the Hub, the documents send their readers to the source tree in the `script` branch, which holds exactly
    the files git tracks (tools.publish): each file or module they name is one of them, or a folder of them (X: a
    placeholder)."""
    tracked = set(tracked_files())
    named = {}
    for path in [CARD, *DOCS]:
        text = path.read_text(encoding="utf-8")
        names = NAMED_FILE.findall(text) + [m.replace(".", "/") + ".py" for m in NAMED_MODULE.findall(text)]
        for name in names:
            named.setdefault(name, path.relative_to(REPO).as_posix())
    assert "examples/train_transformers.py" in named and "tools/export.py" in named
    missing = {
        name: document
        for name, document in named.items()
        if name not in tracked and not any(t.startswith(f"{name}/") for t in tracked) and Path(name).stem != "X"
    }
    assert not missing, f"named but not in the source tree: {missing}"


# The streaming snippets whose own process reads (in the others, DataLoader workers read).
STREAMING_SNIPPETS = [(d, code) for d, code, _ in SNIPPETS if "streaming=True" in code and "num_workers" not in code]


def test_the_card_and_docs_have_streaming_snippets():
    assert [d for d, _ in STREAMING_SNIPPETS] == ["README.md", "docs/streaming.md"]


@pytest.mark.parametrize(("document", "code"), STREAMING_SNIPPETS, ids=[d for d, _ in STREAMING_SNIPPETS])
def test_streaming_snippet_reads_to_the_end_what_it_opens(document, code, snippet_dir, monkeypatch):
    # A Parquet read that a script leaves half done can abort Python at exit (docs/faults.md, "Streaming and
    # interpreter exit"): each streaming snippet reads every piece of Parquet that it opens to its end.
    reads = []
    generate_tables = Parquet._generate_tables

    def recording(self, files, row_groups_list):
        read = {"files": files, "to the end": False}
        reads.append(read)
        yield from generate_tables(self, files, row_groups_list)
        read["to the end"] = True

    monkeypatch.setattr(Parquet, "_generate_tables", recording)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(snippet_dir / "datasets_cache"))
    monkeypatch.chdir(snippet_dir)
    exec(code.replace(HUB_ID_LOAD, LOCAL_LOAD), {})
    assert reads, f"{document}: the snippet streamed nothing"
    assert all(read["to the end"] for read in reads), f"{document}: {reads}"
