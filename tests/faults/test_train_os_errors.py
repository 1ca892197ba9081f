"""A full disk while `stackseg train` writes (its epoch checkpoint, the model): one line
naming the path, exit 4, no traceback, and no model or temporary file left behind.

The full disk is a small tmpfs (mounting needs root: skipped with the reason where the
mount fails), filled before the run; the prepared data stays on the normal disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stackseg.errors import OS_ERROR_EXIT
from tests.conftest import run, tiny_params
from tests.faults.test_os_errors import _fill, tmpfs  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


def test_a_full_disk_during_train_is_one_line_and_leaves_nothing(project: Path, tmpfs):  # noqa: F811
    full = tmpfs("full", "size=1m")
    params = tiny_params()
    params["paths"].update(
        model=str(full / "models" / "model.keras"),
        model_card=str(full / "models" / "model.json"),
        train_resume=str(full / "resume"),
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "tiny project"], project)  # dvclive needs a commit
    run(["stackseg", "prepare"], project)
    (full / "models").mkdir()
    _fill(full)

    proc = run(["stackseg", "train"], project, check=False, timeout=600)

    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"stackseg train: error: {full}"), errors[0]
    assert "No space left on device" in errors[0]
    assert proc.returncode == OS_ERROR_EXIT
    left = sorted(p.name for p in full.rglob("*") if p.name != "filler" and p.is_file())
    assert left == [], left
