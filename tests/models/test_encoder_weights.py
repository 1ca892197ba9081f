"""train.encoder_weights as a local file: the encoder starts from exactly those weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from stackseg.errors import ConfigError
from stackseg.models import build_model
from stackseg.models.sm_factory import build_encoder
from tests.conftest import train_config

BACKBONE = "mobilenetv2"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A locally saved encoder of the backbone (stands in for a downloaded imagenet file)."""
    keras.utils.set_random_seed(123)
    encoder = build_encoder(BACKBONE, channels=3)
    path = tmp_path_factory.mktemp("weights") / f"{BACKBONE}.weights.h5"
    encoder.save_weights(path)
    return path, {layer.name: layer.get_weights() for layer in encoder.layers if layer.weights}


@pytest.mark.parametrize("in_channels", [1, 3])
def test_encoder_weights_loaded_from_local_file(weights_file, in_channels: int):
    path, expected = weights_file
    cfg = train_config(image_size=64, arch="sm_unet", backbone=BACKBONE, encoder_weights=str(path))
    model = build_model(cfg, n_classes=2, in_channels=in_channels)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    layers = {layer.name: layer for layer in base.layers}
    for name, values in expected.items():
        for got, want in zip(layers[name].get_weights(), values, strict=True):
            np.testing.assert_array_equal(got, want)
    # pretrained encoders take RGB: a gray model repeats its channel in front of them
    assert model.input_shape[-1] == in_channels
    assert ("gray_to_rgb" in {layer.name for layer in model.layers}) == (in_channels == 1)
    assert model(np.zeros((1, 32, 32, in_channels), np.float32)).shape == (1, 32, 32, 2)


def test_random_init_differs_from_the_file(weights_file):
    path, expected = weights_file
    keras.utils.set_random_seed(7)
    model = build_model(train_config(image_size=64, arch="sm_unet", backbone=BACKBONE), 2, 3)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    name = next(iter(expected))
    assert not np.array_equal(base.get_layer(name).get_weights()[0], expected[name][0])


def test_missing_file_is_a_config_error(tmp_path):
    cfg = train_config(
        image_size=64, arch="sm_unet", backbone=BACKBONE, encoder_weights=str(tmp_path / "no.h5")
    )
    with pytest.raises(ConfigError, match="train.encoder_weights: .*no.h5: file not found"):
        build_model(cfg, 1, 1)


def test_weights_of_another_backbone_are_refused(tmp_path):
    other = build_encoder("resnet18", channels=3)
    path = tmp_path / "resnet18.weights.h5"
    other.save_weights(path)
    cfg = train_config(image_size=64, arch="sm_fpn", backbone=BACKBONE, encoder_weights=str(path))
    with pytest.raises(ConfigError, match=f"not a {BACKBONE} encoder weights file"):
        build_model(cfg, 1, 1)
