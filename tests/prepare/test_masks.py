"""Mask formats to one 0/255 channel per class, checked against the declared format."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.prepare.masks import MaskConverter, MaskValueError

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


def _reference(mask: np.ndarray, classes: int):
    """The rule written plainly: 1 and 255 are foreground, 0 background, anything else bad."""
    values = set(np.unique(mask).tolist())
    if not values <= {0, 1, 255}:
        return None
    fg = mask != 0
    return fg * np.uint8(255), [int(np.count_nonzero(fg[..., k])) for k in range(classes)]


@pytest.mark.parametrize("reuse", [False, True])
@pytest.mark.parametrize(
    "values", [(0,), (0, 1), (0, 255), (0, 1, 255), (0, 1, 2), (0, 254, 255), (0, 1, 7, 255)]
)
def test_uint8_channels_match_the_plain_rule(values, reuse):
    convert = MaskConverter("channels", 3, "uint8", reuse_output=reuse)
    for seed in range(3):
        mask = np.random.default_rng(seed).choice(np.array(values, np.uint8), (9, 13, 3))
        expected = _reference(mask, 3)
        if expected is None:
            with pytest.raises(MaskValueError, match="are not binary"):
                convert(mask)
            continue
        out, counts = convert(mask)
        np.testing.assert_array_equal(out, expected[0])
        assert counts == expected[1]


def test_outputs_are_independent_unless_reuse_is_asked_for():
    ones = np.ones((4, 5, 3), np.uint8)
    full = np.full((4, 5, 3), 255, np.uint8)
    keep = MaskConverter("channels", 3, "uint8")
    first, _ = keep(ones)
    second, _ = keep(ones * 0)
    assert first.all() and not second.any()
    out, _ = keep(full)
    full[0, 0, 0] = 0  # changing the input later does not change a kept result
    assert out.all()
    reuse = MaskConverter("channels", 3, "uint8", reuse_output=True)
    first, _ = reuse(ones)
    second, _ = reuse(ones * 0)
    assert np.shares_memory(first, second) and not first.any()
