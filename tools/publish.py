"""Publishing an export to a Hub dataset repository: its `main` branch holds exactly the export (Parquet, card and
the files the card links to), its `script` branch the loading script for datasets < 4 and the files it reads.

tools.export calls `publish` on the folder it has just built and verified in the same run, before that folder is
moved into place: nothing else is ever published. One `create_commit` per branch, not `upload_folder`: with
`hf_xet` installed, `upload_folder` may split a folder into several commits, and between them the Hub would serve
a dataset half old and half new.
"""

from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

import fashion_mnist as fm
from tools import layout
from tools.common import REPO

# What the `script` branch holds: the loading script for datasets < 4, the files it reads, the card and its files.
SCRIPT_FILES = (
    "fashion_mnist.py",
    "dataset_infos.json",
    "README.md",
    *layout.CARD_FILES,
    *(f"dummy/{a.filename}" for s in fm.SAMPLE_SPLITS for a in (s.images, s.labels)),
)
KEPT = ".gitattributes"  # the Hub's own file of each branch, never deleted


def operations(root: Path, files, remote_files=()) -> list:
    """Commit operations that make a branch hold exactly `files` (relative to `root`): add each, delete every other
    file of the branch (`remote_files`) but .gitattributes."""
    adds = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(root / name)) for name in files]
    deletes = [CommitOperationDelete(path_in_repo=name) for name in remote_files if name not in files and name != KEPT]
    return adds + deletes


def publish(repo_id: str, folder: Path, files: list[str], api: HfApi | None, dry_run: bool) -> dict:
    """Push `files` of the verified export in `folder` to `repo_id`@main and the loading script to @script; return the
    operations per branch. A dry run asks the Hub nothing and lists the additions only."""
    if dry_run:
        return {"main": operations(folder, files), "script": operations(REPO, SCRIPT_FILES)}
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    plan = {"main": operations(folder, files, api.list_repo_files(repo_id, repo_type="dataset", revision="main"))}
    api.create_commit(repo_id, plan["main"], commit_message="Parquet export and card", repo_type="dataset")
    api.create_branch(repo_id, branch="script", repo_type="dataset", exist_ok=True)
    script_files = api.list_repo_files(repo_id, repo_type="dataset", revision="script")
    plan["script"] = operations(REPO, SCRIPT_FILES, script_files)
    api.create_commit(repo_id, plan["script"], commit_message="Loading script", repo_type="dataset", revision="script")
    return plan
