"""models/model.json as train builds it (train.model_card) and the code it is traced to."""

from __future__ import annotations

from pathlib import Path

import yaml

from stackseg.config import config_from_dict
from stackseg.contracts import CARD_FORMAT, ModelCard, read_card, write_card
from stackseg.train.callbacks import RunState
from stackseg.train.model_card import TRAINING_CODE, build_card
from stackseg.train.prepared import read_prepared
from tests.conftest import ROOT, tiny_params

CLASSES = ["disc", "ring", "streak"]


def test_training_code_is_the_train_stage_code_dependencies():
    """TRAINING_CODE (hashed into the card) and dvc.yaml's train deps are one list."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    code_deps = {dep for dep in stages["train"]["deps"] if dep.startswith("src/")}
    assert code_deps == {f"src/stackseg/{name}" for name in TRAINING_CODE}
    assert len(set(TRAINING_CODE)) == len(TRAINING_CODE)
    for name in TRAINING_CODE:
        assert (ROOT / "src/stackseg" / name).exists(), name


def test_card_is_a_typed_contract_that_round_trips(prepared: Path, tmp_path: Path):
    cfg = config_from_dict(tiny_params(train={"threshold": 0.4}))
    data = read_prepared(prepared, CLASSES)
    state = RunState(
        history=[{"loss": 0.5, "val_iou": 0.2, "val_loss": 0.6, "learning_rate": 0.01}],
        best_value=0.2,
        best_epoch=0,
    )
    hashes = {"code": "c" * 64, "raw": "r" * 64, "prepared": "p" * 64}
    card = build_card(cfg, data, hashes, state, 4, tmp_path)
    assert isinstance(card, ModelCard) and card.format == CARD_FORMAT
    assert card.output.thresholds == [0.4, 0.4, 0.4]  # the one threshold knob: train.threshold
    assert card.output.threshold_rule == "fixed" and card.output.threshold_choice is None
    assert card.input.channels == 1 and card.input.size_multiple == 4
    assert card.prepared_scaling == data.manifest.scaling
    assert card.lineage.pairs == {"train": 6, "val": 2, "test": 2}
    assert card.lineage.code_commit is None  # tmp_path is no git repository
    assert card.training.best_epoch == 1
    assert card.training.best_val == {"iou": 0.2, "loss": 0.6}

    path = write_card(card, tmp_path / "models" / "model.json")
    assert read_card(path, CLASSES) == card
    # the file's key order is the card's field order (what models/model.json always had)
    assert list(yaml.safe_load(path.read_text())) == [
        "format",
        "model_file",
        "classes",
        "input",
        "output",
        "prepared_scaling",
        "lineage",
        "params",
        "training",
    ]
