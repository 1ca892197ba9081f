"""The model card's training code is exactly the train stage's code dependencies in dvc.yaml."""

from __future__ import annotations

import yaml

from stackseg.train.model_card import PACKAGE, TRAINING_CODE
from tests.conftest import ROOT

SOURCE = "src/stackseg/"


def test_training_code_is_the_train_stages_code_deps():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    code_deps = {dep for dep in stage["deps"] if dep.startswith(SOURCE)}
    # one list each, kept equal: a file DVC reruns train for is a file the card hashes
    assert {SOURCE + name for name in TRAINING_CODE} == code_deps
    assert len(set(TRAINING_CODE)) == len(TRAINING_CODE)


def test_every_training_code_entry_exists():
    missing = [name for name in TRAINING_CODE if not (PACKAGE / name).exists()]
    assert missing == []
