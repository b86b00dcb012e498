"""Publishing an export to a Hub dataset repository: its `main` branch holds exactly the export (Parquet, card and
the files the card links to), its `script` branch the source tree that built it: every file git tracks in this
repository, the loading script for datasets < 4 among them. The documents on `main` send their readers to a clone
of that branch (tools.card.HUB_DOCUMENT_NOTE).

tools.export calls `publish` on the folder it has just built and verified in the same run, before that folder is
moved into place: nothing else is ever published. One `create_commit` per branch, not `upload_folder`: with
`hf_xet` installed, `upload_folder` may split a folder into several commits, and between them the Hub would serve
a dataset half old and half new.
"""

import subprocess
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

from tools import cli
from tools.common import REPO

KEPT = ".gitattributes"  # the Hub's own file of each branch, never deleted
# The `script` branch's reason to be: `load_dataset` on datasets < 4 runs it. A listing without it is not this tree.
LOADING_SCRIPT = "fashion_mnist.py"


class PublishError(cli.UserError):
    """A push that cannot be made as asked, with the reason: raised before anything is sent."""


def source_files(repo: Path = REPO) -> list[str]:
    """Every file that git tracks in `repo` (relative, POSIX, sorted): the source tree that the `script` branch
    holds. `PublishError` if git cannot list them, or one of them is not a regular file in the working tree."""
    refusal = f"--push publishes the source tree with the export (the script branch: every file git tracks in {repo})"
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=False)
    except OSError as error:
        reason = cli.describe(error)
        raise PublishError(f"{refusal}, but git cannot be run ({reason}). Push from a Git clone") from error
    if listed.returncode != 0:
        reason = next((line for line in listed.stderr.splitlines() if line.strip()), f"exit {listed.returncode}")
        raise PublishError(f"{refusal}, but git ls-files failed: {reason.strip()}. Push from a Git clone")
    files = sorted(name for name in listed.stdout.split("\0") if name)
    if LOADING_SCRIPT not in files:
        raise PublishError(f"{refusal}, but git tracks no {LOADING_SCRIPT} there. Push from a Git clone of this tree")
    for name in files:
        path = repo / name
        if path.is_symlink() or not path.is_file():
            raise PublishError(
                f"{refusal}, but {name} is tracked and not a regular file in the working tree: "
                f"restore it (git checkout -- {name}) or commit its removal"
            )
    return files


def operations(root: Path, files, remote_files=()) -> list:
    """Commit operations that make a branch hold exactly `files` (relative to `root`): add each, delete every other
    file of the branch (`remote_files`) but .gitattributes."""
    adds = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(root / name)) for name in files]
    deletes = [CommitOperationDelete(path_in_repo=name) for name in remote_files if name not in files and name != KEPT]
    return adds + deletes


def publish(repo_id: str, folder: Path, files: list[str], api: HfApi | None, dry_run: bool, source=None) -> dict:
    """Push `files` of the verified export in `folder` to `repo_id`@main and the source tree (`source`, by default
    `source_files()`, listed before anything is sent) to @script; return the operations per branch. A dry run asks
    the Hub nothing and lists the additions only."""
    source = source_files() if source is None else source
    if dry_run:
        return {"main": operations(folder, files), "script": operations(REPO, source)}
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    plan = {"main": operations(folder, files, api.list_repo_files(repo_id, repo_type="dataset", revision="main"))}
    api.create_commit(repo_id, plan["main"], commit_message="Parquet export and card", repo_type="dataset")
    api.create_branch(repo_id, branch="script", repo_type="dataset", exist_ok=True)
    plan["script"] = operations(REPO, source, api.list_repo_files(repo_id, repo_type="dataset", revision="script"))
    message = "Source tree that built the export on main (the loading script among it)"
    api.create_commit(repo_id, plan["script"], commit_message=message, repo_type="dataset", revision="script")
    return plan
