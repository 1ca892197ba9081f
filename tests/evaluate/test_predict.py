"""Native-resolution prediction: padding to the model's multiple, cropping back, batching."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.predict import pad_to_multiple, padding_for, predict_batch, predict_frames


class RecordingModel:
    """A numpy stand-in: checks divisibility, records batch shapes, returns 2 * channel 0."""

    def __init__(self, multiple: int):
        self.multiple = multiple
        self.shapes: list[tuple[int, ...]] = []

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        assert batch.shape[1] % self.multiple == 0 and batch.shape[2] % self.multiple == 0
        self.shapes.append(batch.shape)
        return 2 * batch[..., :1]


def scale(batch: np.ndarray) -> np.ndarray:
    return batch.astype(np.float32) / 255.0


@pytest.mark.parametrize(
    ("size", "multiple", "expected"), [(13, 8, 3), (16, 8, 0), (1, 4, 3), (5, 1, 0)]
)
def test_padding_for(size, multiple, expected):
    assert padding_for(size, multiple) == expected


def test_pad_reflects_at_bottom_right_and_keeps_the_frame_in_place():
    batch = np.arange(2 * 13 * 21 * 2, dtype=np.float32).reshape(2, 13, 21, 2)
    padded = pad_to_multiple(batch, 8)
    assert padded.shape == (2, 16, 24, 2)
    assert np.array_equal(padded[:, :13, :21], batch)
    # reflection about the last row/column, which is not repeated
    assert np.array_equal(padded[:, 13, :21], batch[:, 11])
    assert np.array_equal(padded[:, 15, :21], batch[:, 9])
    assert np.array_equal(padded[:, :13, 21], batch[:, :, 19])
    divisible = batch[:, :8, :16]
    assert pad_to_multiple(divisible, 8) is divisible  # nothing to do: no copy


def test_pad_handles_frames_smaller_than_the_pad():
    batch = np.arange(3, dtype=np.float32).reshape(1, 1, 3, 1)
    assert pad_to_multiple(batch, 16).shape == (1, 16, 16, 1)


def test_predict_batch_crops_back_to_the_input_size():
    batch = np.random.default_rng(0).random((3, 37, 53, 2), dtype=np.float32)
    out = predict_batch(RecordingModel(16), batch, 16)
    assert out.shape == (3, 37, 53, 1) and out.dtype == np.float32
    assert np.allclose(out[..., 0], 2 * batch[..., 0])


def test_wrong_multiple_is_reported():
    class Shrinking:
        def predict_on_batch(self, batch):
            return batch[:, :-1]

    with pytest.raises(ValueError, match="multiple"):
        predict_batch(Shrinking(), np.zeros((1, 8, 8, 1), np.float32), 8)


def test_frames_are_batched_by_size_and_yielded_in_order():
    rng = np.random.default_rng(1)
    sizes = [(20, 30), (20, 30), (20, 30), (9, 7), (20, 30)]
    frames = [(f"f{i}", rng.integers(0, 256, (*s, 1), dtype=np.uint8)) for i, s in enumerate(sizes)]
    model = RecordingModel(4)
    out = list(predict_frames(model, frames, scale, multiple=4, batch_size=2))
    assert [key for key, _, _ in out] == ["f0", "f1", "f2", "f3", "f4"]
    assert [s[:3] for s in model.shapes] == [(2, 20, 32), (1, 20, 32), (1, 12, 8), (1, 20, 32)]
    for (_, frame, probs), (_, original) in zip(out, frames, strict=True):
        assert frame is original
        assert probs.shape == (*original.shape[:2], 1)
        assert np.allclose(probs[..., 0], 2 * scale(original)[..., 0])


@pytest.fixture(scope="module")
def small_unet():
    """A two-level conv/pool/upsample/skip model: translation-equivariant by multiples of 4."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 1))
    x1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x2 = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(
        keras.layers.MaxPooling2D()(x1)
    )
    x3 = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(
        keras.layers.MaxPooling2D()(x2)
    )
    up2 = keras.layers.Concatenate()([keras.layers.UpSampling2D()(x3), x2])
    up1 = keras.layers.Concatenate()([keras.layers.UpSampling2D()(up2), x1])
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid")(up1)
    return keras.Model(inputs, outputs)


def test_real_model_native_resolution_is_translation_consistent(small_unet):
    rng = np.random.default_rng(2)
    full = rng.integers(0, 256, (61, 75, 1), dtype=np.uint8)
    top, left, height, width = 8, 12, 37, 41  # offsets on the pooling grid, odd sizes
    crop = full[top : top + height, left : left + width]
    (_, _, whole), (_, _, part) = predict_frames(
        small_unet, [("full", full), ("crop", crop)], scale, multiple=4, batch_size=4
    )
    assert whole.shape == (61, 75, 2) and part.shape == (37, 41, 2)
    # away from the crop's borders (receptive field ~ 20 px) both see the same pixels
    margin = 12
    inner_part = part[margin:-margin, margin:-margin]
    inner_whole = whole[top + margin : top + height - margin, left + margin : left + width - margin]
    assert inner_part.size > 0
    np.testing.assert_allclose(inner_part, inner_whole, atol=1e-5)


def test_batch_composition_does_not_change_predictions(small_unet):
    rng = np.random.default_rng(3)
    frames = [(i, rng.integers(0, 256, (18, 26, 1), dtype=np.uint8)) for i in range(3)]
    together = [p for _, _, p in predict_frames(small_unet, frames, scale, 4, batch_size=3)]
    alone = [p for _, _, p in predict_frames(small_unet, frames, scale, 4, batch_size=1)]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
