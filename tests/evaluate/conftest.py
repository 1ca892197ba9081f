from __future__ import annotations

import pytest

from stackseg.config import config_from_dict
from tests.conftest import tiny_params
from tests.evaluate.standin import CLASSES, write_prepared


@pytest.fixture
def cfg(tmp_path):
    """Params pointing at the stand-in prepared split and tmp metrics/plots paths."""
    prepared = write_prepared(tmp_path / "prepared")
    params = tiny_params(
        classes=CLASSES,
        paths={
            "prepared": str(prepared),
            "evaluate_metrics": str(tmp_path / "metrics" / "evaluate.json"),
            "evaluate_plots": str(tmp_path / "plots" / "evaluate"),
        },
        evaluate={"overlays": 2, "batch_size": 3},
    )
    return config_from_dict(params)
