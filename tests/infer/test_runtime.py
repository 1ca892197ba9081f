"""The inference backends (stackseg.runtime, kept with the infer tests for their fixtures):
ONNX Runtime and the Keras tf.function agree within export.max_abs_diff on the session's
trained model."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg import runtime
from tests.infer.conftest import prepared_image


@pytest.mark.slow
def test_onnx_and_keras_backends_agree_within_the_export_tolerance(
    trained, test_pairs, model_dir, card
):
    from stackseg.preprocessing import to_model_input

    onnx = runtime.load_backend("onnx", model_dir / "model.keras", model_dir / "model.onnx", 1)
    keras = runtime.load_backend("keras", model_dir / "model.keras", model_dir / "model.onnx")
    assert (onnx.name, keras.name) == ("onnx", "keras")
    assert onnx.channels == keras.channels == 1 and onnx.outputs == keras.outputs == 3
    batch = to_model_input(np.stack([prepared_image(trained, p) for p in test_pairs[:8]]))
    # 48 x 48 and 40 x 32: one file and one trace serve every size (multiples of 8)
    for frames in (batch, np.ascontiguousarray(batch[:, :40, :32])):
        a, b = onnx.predict_on_batch(frames), keras.predict_on_batch(frames)
        assert a.shape == b.shape == (*frames.shape[:3], 3) and a.dtype == np.float32
        assert np.abs(a - b).max() <= trained.params["export"]["max_abs_diff"]
        threshold = card.output.threshold_array()
        assert np.array_equal(a >= threshold, b >= threshold)


def test_an_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        runtime.load_backend("torch", tmp_path / "m.keras", tmp_path / "m.onnx")


def test_keras_backend_runs_a_bilinear_unet_at_any_size():
    """Keras 3.15 cannot trace bilinear UpSampling2D at a dynamic size (its own
    predict_on_batch fails too): the backend falls back to one trace per shape, and evaluate,
    which predicts through it, works for `train.upsampling: bilinear`."""
    from stackseg.models.unet import build_unet

    model = build_unet(2, 1, depth=2, base_filters=4, dropout=0.0, upsampling="bilinear")
    backend = runtime.KerasBackend(model)
    rng = np.random.default_rng(0)
    for shape in [(2, 32, 40, 1), (1, 48, 16, 1)]:
        batch = rng.random(shape, dtype=np.float32)
        expected = np.asarray(model(batch, training=False))
        assert np.array_equal(backend.predict_on_batch(batch), expected)
