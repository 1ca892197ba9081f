"""The `stackseg evaluate` entry point and the trained-model checks, without training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from stackseg.cli import main
from stackseg.config import config_from_dict
from stackseg.errors import InputDataError
from tests.conftest import tiny_params


def test_stage_import_stays_light():
    code = "import sys, stackseg.commands.evaluate; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    assert main(["evaluate"]) == InputDataError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "stackseg evaluate: error: models/model.keras: not found (run `dvc repro train` first)"
    ]
    assert not (tmp_path / "metrics").exists() and not (tmp_path / "plots").exists()


@pytest.fixture
def saved_model(tmp_path):
    keras = pytest.importorskip("keras")
    from stackseg.models import save_model

    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid")(inputs)
    path = tmp_path / "model.keras"
    save_model(keras.Model(inputs, outputs), path)
    return path


def cfg_for(tmp_path, model, classes, card: dict):
    card_path = tmp_path / "model.json"
    card_path.write_text(json.dumps(card))
    paths = {"model": str(model), "model_card": str(card_path)}
    return config_from_dict(tiny_params(classes=classes, paths=paths))


def test_trained_model_loads_and_is_checked_against_params(tmp_path, saved_model):
    from stackseg.evaluate import trained

    model, card = trained.load_trained(
        cfg_for(tmp_path, saved_model, ["a", "b"], {"classes": ["a", "b"]})
    )
    assert model.outputs[0].shape[-1] == 2 and card == {"classes": ["a", "b"]}

    with pytest.raises(InputDataError, match=r"model trained for classes \['a', 'b'\]"):
        trained.load_trained(cfg_for(tmp_path, saved_model, ["a", "c"], {"classes": ["a", "b"]}))
    with pytest.raises(InputDataError, match="2 output channels for 3 classes"):
        trained.load_trained(cfg_for(tmp_path, saved_model, ["a", "b", "c"], {}))


def test_size_multiple_prefers_the_model_card(tmp_path):
    from stackseg.evaluate import trained

    cfg = config_from_dict(tiny_params(train={"arch": "unet", "depth": 2}))
    assert trained.size_multiple({}, cfg) == 4
    assert trained.size_multiple({"input": {"size_multiple": 16}}, cfg) == 16
