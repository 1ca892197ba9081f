"""Output shapes, dtypes and saving of every architecture (tiny inputs, no training)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from stackseg.errors import ConfigError
from stackseg.models import build_model, load_model, save_model, size_multiple
from tests.conftest import train_config

SM_CASES = [("sm_unet", "mobilenetv2"), ("sm_fpn", "efficientnetb0"), ("sm_linknet", "resnet18")]


@pytest.fixture
def float32_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
@pytest.mark.parametrize("depth", [1, 3])
def test_unet_any_size_divisible_by_2_to_depth(upsampling: str, depth: int):
    cfg = train_config(depth=depth, base_filters=4, upsampling=upsampling)
    model = build_model(cfg, n_classes=3, in_channels=1)
    assert size_multiple(cfg) == 2**depth
    assert model.input_shape == (None, None, None, 1)
    for height, width in [(16, 24), (40, 8 * 2**depth)]:
        x = np.random.default_rng(0).random((2, height, width, 1), np.float32)
        y = np.asarray(model(x))
        assert y.shape == (2, height, width, 3) and y.dtype == np.float32
        assert y.min() >= 0.0 and y.max() <= 1.0


def test_unet_params_follow_config():
    small = build_model(train_config(depth=2, base_filters=4), 1, 3)
    wider = build_model(train_config(depth=2, base_filters=8), 1, 3)
    deeper = build_model(train_config(depth=3, base_filters=4), 1, 3)
    assert small.count_params() < wider.count_params()
    assert small.count_params() < deeper.count_params()
    assert small.input_shape[-1] == 3 and small.output_shape[-1] == 1
    no_dropout = build_model(train_config(depth=2, base_filters=4, dropout=0.0), 1, 3)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_dropout.layers)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in small.layers) == 4


@pytest.mark.parametrize(("arch", "backbone"), SM_CASES)
def test_segmentation_models_shapes(arch: str, backbone: str):
    cfg = train_config(image_size=64, arch=arch, backbone=backbone)
    model = build_model(cfg, n_classes=2, in_channels=1)
    assert size_multiple(cfg) == 32
    y = np.asarray(model(np.zeros((1, 64, 96, 1), np.float32)))
    assert y.shape == (1, 64, 96, 2) and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_mixed_bfloat16_outputs_float32(float32_policy):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    for cfg in (
        train_config(depth=2, base_filters=4),
        train_config(image_size=64, arch="sm_linknet", backbone="mobilenetv2"),
    ):
        model = build_model(cfg, n_classes=3, in_channels=1)
        assert model.layers[1].compute_dtype == "bfloat16"
        y = model(np.zeros((1, 32, 32, 1), np.float32))
        assert keras.backend.standardize_dtype(y.dtype) == "float32"


def test_unknown_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match="train.backbone: unknown backbone 'resnet999'"):
        build_model(train_config(image_size=64, arch="sm_unet", backbone="resnet999"), 1, 1)


def test_save_is_byte_stable_and_loads(tmp_path):
    model = build_model(train_config(depth=2, base_filters=4), 3, 1)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(np.zeros((2, 8, 8, 1)), np.zeros((2, 8, 8, 3)), verbose=0)  # optimizer state
    first = save_model(model, tmp_path / "a" / "model.keras")
    # a second model in the process shares no state with the first one's saved bytes
    build_model(train_config(depth=2, base_filters=4), 3, 1)
    second = save_model(model, tmp_path / "b" / "model.keras")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"1980-01-01@00:00:00" in archive.read("metadata.json")
    loaded = load_model(first)
    x = np.random.default_rng(1).random((1, 16, 20, 1), np.float32)
    assert loaded.predict(x, verbose=0).shape == (1, 16, 20, 3)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with zipfile.ZipFile(first) as archive:  # inference only: no optimizer state in the file
        assert b"optimizer" not in archive.read("model.weights.h5")


def test_efficientnet_model_loads_with_only_stackseg_models_imported(tmp_path):
    """EfficientNet encoders use swish and FixedDropout: registered by `import stackseg.models`."""
    model = build_model(
        train_config(image_size=64, arch="sm_unet", backbone="efficientnetb0"), 1, 1
    )
    path = save_model(model, tmp_path / "model.keras")
    x = np.random.default_rng(2).random((1, 32, 32, 1), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    code = (
        "import sys, numpy as np, keras, stackseg.models\n"
        f"m = keras.models.load_model({str(path)!r}, compile=False)\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "np.testing.assert_allclose(m.predict(x, verbose=0), y, atol=1e-6)\n"
        "assert 'segmentation_models' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
