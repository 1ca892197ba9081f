"""The base revision a report compares against: does it exist, and does it hold results?"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stackseg.errors import StacksegError


@dataclass(frozen=True)
class BaseRevision:
    ref: str  # as the user gave it (what DVC labels the revision with)
    sha: str
    has_results: bool  # False: no dvc.lock at that revision (nothing was ever run there)

    @property
    def short(self) -> str:
        return self.sha[:8]

    @property
    def label(self) -> str:
        """How the report names the base: the ref, or the short sha when given a long sha."""
        return self.short if re.fullmatch(r"[0-9a-f]{12,40}", self.ref) else self.ref

    @property
    def described(self) -> str:
        """Markdown: `origin/main` (`abc12345`), or just `abc12345`."""
        return f"`{self.label}`" + ("" if self.label == self.short else f" (`{self.short}`)")


def git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`git ARGS` in `cwd`, output captured as text (the caller checks the exit status)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def resolve_base(ref: str, cwd: Path) -> BaseRevision:
    """Resolve REF to a commit; raise a one-line StacksegError when it does not exist."""
    if not ref or ref.startswith("-"):
        raise StacksegError(f"base revision {ref!r} is not a valid git revision")
    if ref == "workspace":
        raise StacksegError("base revision 'workspace' is the workspace itself: pass a commit")
    proc = git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd)
    if proc.returncode != 0:
        raise StacksegError(
            f"base revision {ref!r} not found in this git repository: "
            "fetch it first (e.g. `git fetch origin main`) or check the name"
        )
    sha = proc.stdout.strip()
    # `REV:./path` is relative to cwd, so a DVC project in a sub-directory works too.
    has_lock = git(["cat-file", "-e", f"{sha}:./dvc.lock"], cwd).returncode == 0
    return BaseRevision(ref=ref, sha=sha, has_results=has_lock)


def workspace_description(cwd: Path) -> str:
    """`abc12345` or `abc12345 + uncommitted changes` for the report header."""
    head = git(["rev-parse", "--short=8", "HEAD"], cwd)
    if head.returncode != 0:
        return "workspace (no commit yet)"
    dirty = git(["status", "--porcelain", "--untracked-files=no"], cwd).stdout.strip()
    return f"`{head.stdout.strip()}`" + (" + uncommitted changes" if dirty else "")
