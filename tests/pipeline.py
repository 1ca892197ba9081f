"""One tiny project after a real `dvc repro` of the whole pipeline, built once per test run
and shared by the tests that need *a* repro'd project (the `pipeline` fixture of
tests/conftest.py, session-scoped): they copy it (`copy_pipeline`) and go on from there.

`build_pipeline` is what a user does in a fresh clone of the project: the project's dvc.yaml
and src/, the tiny profile's params (tests.conftest.tiny_params), the demo stacks from
`stackseg synth` tracked by `dvc add data/raw` (as data/raw.dvc tracks them in the
repository), a commit, `dvc repro` of every stage, and a commit of its results. No DVC remote
is set: tests that need one add it to their copy.

Each `dvc repro` of the tiny pipeline costs about a minute (six stages, each a process that
starts TensorFlow); the tests that used to run their own (report, evaluate, train under
DVC, the S3 round trip) now run one between them. Under `pytest -n 2` the two xdist workers
share the one build (`shared`): the first to ask builds it under a file lock, the other
waits for it instead of building its own.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import make_project, run, tiny_params

REPRO_TIMEOUT = 900  # the whole tiny pipeline, on 2 cores shared with the other worker


def build_pipeline(root: Path) -> Path:
    """A committed tiny project after `dvc repro` (raw data tracked by data/raw.dvc)."""
    make_project(root, tiny_params())
    run(["dvc", "add", "-q", "data/raw"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project and demo data"], root)
    run(["dvc", "repro", "-q"], root, timeout=REPRO_TIMEOUT)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny pipeline run"], root)
    return root


def copy_pipeline(template: Path, dest: Path) -> Path:
    """A copy of the template to change: workspace, git history and DVC cache."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def shared(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """`build(folder)` once for the whole run, even across xdist workers; its result's path.

    The workers' temporary folders share a parent (`.../pytest-N/popen-gwK`): the build goes
    there, under an exclusive lock, and a marker file names the finished result. A build that
    failed leaves no marker: the next caller tries again in a fresh folder.
    """
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    marker = base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if marker.is_file():
            return Path(marker.read_text())
        result = build(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base)) / "proj")
        marker.write_text(str(result))
        return result
