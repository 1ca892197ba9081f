"""The trained model and its card as evaluate and export load them (stackseg.trained), without
training."""

from __future__ import annotations

import pytest
import yaml

from stackseg.cli import main
from stackseg.config import config_from_dict
from stackseg.contracts import read_manifest, write_card
from stackseg.errors import InputDataError
from tests.conftest import tiny_params
from tests.evaluate.standin import CLASSES, write_prepared
from tests.fixtures import make_card


@pytest.mark.parametrize(
    ("command", "outputs"), [("evaluate", ["metrics", "plots"]), ("export", ["models", "metrics"])]
)
def test_missing_model_is_one_clear_line(tmp_path, monkeypatch, capsys, command, outputs):
    """Both stages that load the trained model (stackseg.trained.load_trained)."""
    monkeypatch.chdir(tmp_path)
    # fast: in this process, portable mode would pin TensorFlow's variables for later tests
    params = tiny_params(train={"reproducibility": "fast"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main([command]) == InputDataError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"stackseg {command}: error: models/model.keras: not found (run `dvc repro train` first)"
    ]
    assert not any((tmp_path / name).exists() for name in outputs)


@pytest.fixture
def saved_model(tmp_path):
    keras = pytest.importorskip("keras")
    from stackseg.models import save_model

    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid")(inputs)
    path = tmp_path / "model.keras"
    save_model(keras.Model(inputs, outputs), path)
    return path


def cfg_for(tmp_path, model, classes, card_classes, **paths):
    card_path = tmp_path / "model.json"
    write_card(make_card(card_classes, size_multiple=16, threshold=0.3), card_path)
    paths = {"model": str(model), "model_card": str(card_path), **paths}
    return config_from_dict(tiny_params(classes=classes, paths=paths))


def test_trained_model_loads_with_its_typed_card(tmp_path, saved_model):
    from stackseg import trained

    model, card = trained.load_trained(cfg_for(tmp_path, saved_model, ["a", "b"], ["a", "b"]))
    assert model.outputs[0].shape[-1] == 2 and card.classes == ["a", "b"]
    # what the stage takes from the card: the size multiple and the one threshold
    assert card.input.size_multiple == 16 and card.output.thresholds == [0.3] * len(card.classes)


def test_model_and_card_are_checked_against_params(tmp_path, saved_model):
    from stackseg import trained

    with pytest.raises(InputDataError, match=r"model trained for classes \['a', 'b'\]"):
        trained.load_trained(cfg_for(tmp_path, saved_model, ["a", "c"], ["a", "b"]))
    three = ["a", "b", "c"]
    with pytest.raises(InputDataError, match="2 output channels for 3 classes"):
        trained.load_trained(cfg_for(tmp_path, saved_model, three, three))


def test_card_of_another_format_is_refused_in_one_line(tmp_path, saved_model):
    from stackseg import trained

    cfg = cfg_for(tmp_path, saved_model, ["a", "b"], ["a", "b"])
    card = tmp_path / "model.json"
    card.write_text(card.read_text().replace("stackseg-model-card/1", "stackseg-model-card/0"))
    with pytest.raises(InputDataError) as info:
        trained.load_trained(cfg)
    (line,) = info.value.problems
    assert line.startswith(f"{card}: model card format 'stackseg-model-card/0'")


def test_channel_mismatch_with_the_prepared_images(saved_model, tmp_path):
    from stackseg import trained
    from stackseg.contracts import Manifest

    prepared = write_prepared(tmp_path / "prepared")
    cfg = cfg_for(tmp_path, saved_model, CLASSES, CLASSES, prepared=str(prepared))
    model, _ = trained.load_trained(cfg)
    manifest = read_manifest(cfg.paths.prepared)
    trained.check_channels(model, manifest, cfg)  # 1 and 1: fine
    rgb = Manifest.model_validate({**manifest.model_dump(), "image_channels": 3})
    with pytest.raises(InputDataError, match="model takes 1-channel images"):
        trained.check_channels(model, rgb, cfg)
