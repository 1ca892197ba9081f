"""Mask formats to one 0/255 channel per class, checked against the declared format."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.data.masks import MaskConverter, MaskValueError

RNG = np.random.default_rng(3)


def _binary(classes: int, dtype=np.uint8, on=1) -> np.ndarray:
    return ((RNG.random((12, 18, classes)) < 0.4) * on).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "on"), [(np.uint8, 1), (np.uint8, 255), (np.uint16, 65535), (np.bool_, True)]
)
def test_binary_channels_become_0_255_with_counts(dtype, on):
    mask = _binary(3, dtype, on)
    out, counts = MaskConverter("channels", 3, np.dtype(dtype).name)(mask)
    assert out.shape == (12, 18, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, (mask != 0) * 255)
    assert counts == [int(np.count_nonzero(mask[..., k])) for k in range(3)]


@pytest.mark.parametrize(
    ("classes", "png_shape"), [(1, (12, 18)), (2, (12, 18, 3)), (4, (12, 18, 4))]
)
def test_png_layout_follows_the_class_count(classes, png_shape):
    mask = _binary(classes)
    out, counts = MaskConverter("channels", classes, "uint8")(
        mask[..., 0] if classes == 1 else mask
    )
    assert out.shape == png_shape
    for k in range(classes):
        np.testing.assert_array_equal(out[..., k] if out.ndim == 3 else out, mask[..., k] * 255)
    if classes == 2:
        assert not out[..., 2].any()  # unused channel stays 0
    assert len(counts) == classes


def test_class_indices_map_to_one_channel_each():
    index = RNG.integers(0, 4, (10, 14), dtype=np.uint8)
    out, counts = MaskConverter("index", 3, "uint8")(index)
    for k in range(3):
        np.testing.assert_array_equal(out[..., k], (index == k + 1) * 255)
    assert counts == [int(np.count_nonzero(index == k + 1)) for k in range(3)]


@pytest.mark.parametrize(
    ("mask_format", "dtype", "value", "message"),
    [
        ("channels", "uint8", 2, "mask values 2 are not binary"),
        ("channels", "uint16", 300, "mask values 300 are not binary"),
        ("channels", "float32", 0.5, "mask values 0.5 are not binary"),
        ("index", "uint8", 4, "class index 4 outside 0..3"),
        ("index", "int16", -1, "class index -1 outside 0..3"),
    ],
)
def test_values_outside_the_format_are_refused(mask_format, dtype, value, message):
    shape = (6, 6, 3) if mask_format == "channels" else (6, 6)
    mask = np.zeros(shape, dtype=dtype)
    mask[2, 3] = value
    with pytest.raises(MaskValueError, match=message):
        MaskConverter(mask_format, 3, dtype)(mask)
