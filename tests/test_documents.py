"""The manifest and model-card readers: one error line naming the file, with what to rerun."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackseg.errors import InputDataError
from stackseg.evaluate.io import read_manifest
from stackseg.evaluate.trained import read_card
from stackseg.train.prepared import read_prepared

# reader(directory), the file it reads, the hint for a missing file, the hint for a broken one
READERS = {
    "evaluate manifest": (
        read_manifest,
        "manifest.json",
        "run `dvc repro prepare` first",
        "rerun `dvc repro -f prepare`",
    ),
    "model card": (
        lambda root: read_card(root / "model.json"),
        "model.json",
        "run `dvc repro train` first",
        "rerun `dvc repro -f train`",
    ),
    "train manifest": (
        lambda root: read_prepared(root, ["disc"]),
        "manifest.json",
        "run `dvc repro prepare` or `stackseg prepare`",
        "rerun prepare",
    ),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_missing_file(tmp_path: Path, reader: str):
    read, name, missing, _ = READERS[reader]
    with pytest.raises(InputDataError) as info:
        read(tmp_path)
    assert info.value.problems == [f"{tmp_path / name}: not found ({missing})"]


@pytest.mark.parametrize("reader", list(READERS))
def test_broken_json(tmp_path: Path, reader: str):
    read, name, _, invalid = READERS[reader]
    (tmp_path / name).write_text('{"classes": ["disc"],')
    with pytest.raises(InputDataError) as info:
        read(tmp_path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{tmp_path / name}: not valid JSON (Expecting property name")
    assert problem.endswith(f"); {invalid}") and "\n" not in problem
