"""What must hold before a model is registered, and git reads of a commit's files.

1. a clean workspace: no changed tracked file (`git status`), and dvc.lock matching the
   workspace (`dvc status`): the registered commit is exactly what made the model;
2. the model (and the ONNX export, when dvc.lock has one) of dvc.lock is in the DVC remote
   (`dvc status --cloud` on those outputs):
   both through DVC's Python API (`Repo.status`), which spares two DVC start-ups;
   a registered version must be fetchable on another machine; an unreachable remote is
   one line too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from stackseg.errors import InputDataError, StacksegError

GIT_TIMEOUT_S = 120


class DirtyWorkspaceError(StacksegError):
    """Tracked files or DVC outputs differ from the commit."""


class NotInRemoteError(StacksegError):
    """The model of dvc.lock is not (or cannot be checked to be) in the DVC remote."""


def git(args: list[str], cwd: Path | str, check: bool = True) -> str:
    """`git ARGS` in cwd; stdout, or a one-line StacksegError naming the command."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
    except FileNotFoundError:
        raise StacksegError("git is not installed (or not on PATH): install git") from None
    if check and proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise StacksegError(f"`git {' '.join(args)}` failed in {cwd}: {reason}")
    return proc.stdout


def head_commit(root: Path) -> str:
    return git(["rev-parse", "HEAD"], root).strip()


def resolve_commit(root: Path | str, rev: str) -> str | None:
    """The commit `rev` names (branch, tag, sha, refs/exps/...); None if git knows none."""
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def file_at(root: Path | str, commit: str, path: Path | str) -> str | None:
    """The text of `path` at `commit` (git show), None if that commit has no such file."""
    proc = subprocess.run(
        ["git", "show", f"{commit}:{Path(path).as_posix()}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
    )
    return proc.stdout if proc.returncode == 0 else None


def metrics_at(root: Path | str, commit: str, path: Path) -> dict:
    """The metrics JSON of `commit`; InputDataError if missing or not JSON."""
    text = file_at(root, commit, path)
    if text is None:
        raise InputDataError(
            f"{path}: not in commit {commit[:7]}: run `dvc repro` (evaluate) and commit "
            "dvc.lock with the metrics first"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path} at {commit[:7]}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputDataError(f"{path} at {commit[:7]}: not a JSON object")
    return data


def check_clean(root: Path, outputs: list[Path]) -> None:
    """DirtyWorkspaceError naming what differs from the commit: tracked files (git), then
    the stages behind `outputs` (the model, its metrics, its export) and their upstream
    stages (`dvc status --with-deps`); stages that make none of them do not count."""
    changed = git(["status", "--porcelain", "--untracked-files=no"], root).splitlines()
    if changed:
        names = ", ".join(line[3:] for line in changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise DirtyWorkspaceError(
            f"the workspace has uncommitted changes ({names}): commit or stash them first; "
            "a registered version must be exactly its commit"
        )
    try:
        status = _dvc_status(root, outputs, with_deps=True)
    except Exception as exc:  # DVC's own errors: an unreadable dvc.yaml or dvc.lock...
        raise StacksegError(f"`dvc status` failed in {root}: {_one_line(exc)}") from None
    if status:
        raise DirtyWorkspaceError(
            "dvc.lock does not match the workspace (`dvc status`: "
            f"{', '.join(sorted(status))}): run `dvc repro` and commit dvc.lock first"
        )


def check_in_remote(root: Path, outputs: list[Path]) -> None:
    """NotInRemoteError unless every one of `outputs` (dvc.lock outs) is in the default DVC
    remote (`dvc status --cloud` on those outputs only: the data need not be there)."""
    from dvc.config import Config as DvcConfig  # type: ignore[import-untyped]

    # with no remote at all, DVC reports every file "not in remote": say what is wrong instead
    if not DvcConfig(dvc_dir=str(root / ".dvc")).get("core", {}).get("remote"):
        raise NotInRemoteError(
            "the project has no default DVC remote: add one (`dvc remote add -d storage "
            "s3://...`), `dvc push`, then register"
        )
    try:
        status = _dvc_status(root, outputs, cloud=True)
    except Exception as exc:  # botocore, network, credentials: many unrelated types
        raise NotInRemoteError(
            f"cannot check the DVC remote: {_one_line(exc)}; check `dvc remote list`, the "
            "endpoint and its credentials"
        ) from None
    # "new": in the cache only; "missing": nowhere; "deleted": in the remote only (fine)
    missing = [name for name, state in status.items() if state in ("new", "missing")]
    if missing:
        raise NotInRemoteError(
            f"{', '.join(sorted(missing))}: not in the DVC remote: run `dvc push` first (a "
            "registered version must be fetchable on another machine)"
        )


def _dvc_status(root: Path, outputs: list[Path], **options: bool) -> dict:
    """`dvc status [--with-deps | --cloud] OUTPUTS` in-process: {} when all is in order."""
    from dvc.repo import Repo  # type: ignore[import-untyped]

    with Repo(str(root)) as repo:
        # targets relative to the current folder, as on the command line: made absolute
        targets = [str(Path(repo.root_dir) / p) for p in outputs]
        return dict(repo.status(targets=targets, **options))


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]
