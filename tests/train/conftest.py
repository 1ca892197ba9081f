from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.prepared_data import write_prepared


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """A tiny data/prepared tree: 3 classes, gray images, mixed frame sizes."""
    return write_prepared(tmp_path / "data" / "prepared")
