"""Issue 16's done-when, through the CLI: `synth --labels` data run prepare -> train ->
evaluate -> infer, with object metrics and instance labels out (a tiny labels project:
threshold auto and the training scaling window on the way)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from stackseg import cli
from stackseg.contracts import read_card
from tests.conftest import ROOT, tiny_params

pytestmark = pytest.mark.slow


def _params() -> dict:
    labels = yaml.safe_load((ROOT / "profiles/labels.yaml").read_text())
    params = tiny_params(
        synth={"dtype": "uint16"},  # microscopy's type: the training window applies
        prepare={"mask_format": "labels", "labels_boundary": True, "scaling": "training"},
        # fast: this test trains inside pytest's process, where TensorFlow already started
        # (portable pins its environment before TensorFlow starts)
        train={"epochs": 2, "loss": "bce_dice", "threshold": "auto", "reproducibility": "fast"},
    )
    params["classes"] = labels["classes"]
    return params


def test_labels_demo_end_to_end(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(), sort_keys=False))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles/labels.yaml").write_text((ROOT / "profiles/labels.yaml").read_text())

    def stackseg(*args: str) -> None:
        assert cli.main([*args, "--params", "params.yaml"]) == 0, args

    stackseg("synth", "--labels", "--stacks", "7", "--frames", "2")
    stackseg("prepare")
    stackseg("train")
    card = read_card("models/model.json")
    assert card.output.threshold_rule == "auto on val (f1)"
    assert card.output.threshold_choice is not None
    assert len(card.output.thresholds) == 2 and card.prepared_scaling.rule == "training"

    stackseg("evaluate")
    found = json.loads(Path("metrics/evaluate.json").read_text())["objects"]
    assert {"precision", "recall", "f1", "pq", "ap_dsb", "splits", "merges"} <= set(found)
    assert found["counts"]["true"] > 0
    assert json.loads(Path("plots/evaluate/objects_f1.json").read_text())

    stack = sorted(Path("data/raw/images").glob("*.tif"))[0]
    stackseg("infer", str(stack), "--out", "out", "--backend", "keras")
    labels = tifffile.imread(Path("out") / f"{stack.stem}.labels.tif")
    assert labels.dtype == np.uint16 and labels.shape == (2, 96, 96)
    sidecar = json.loads((Path("out") / f"{stack.stem}.infer.json").read_text())
    assert sidecar["thresholds"] == card.output.thresholds
