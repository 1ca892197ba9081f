"""The export tests share one `dvc repro export` of a copy of the session's trained project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    """A copy of the trained project after `dvc repro export` (do not modify it).

    The trained project ran its steps through `stackseg` directly: `dvc commit` records
    prepare and train in dvc.lock first, so that the repro runs the export stage alone.
    """
    root = tmp_path_factory.mktemp("exported") / "proj"
    shutil.copytree(trained.root, root, symlinks=True)
    run(["dvc", "commit", "-f", "prepare", "train"], root)
    run(["dvc", "repro", "export"], root, timeout=600)
    return root
