"""The codecs: lossless PNG masks with class k in channel k, JPEG images of any size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from stackseg.prepare.masks import MaskConverter
from stackseg.prepare.pairs import encode_jpeg, encode_png

RNG = np.random.default_rng(4)


def _binary(classes: int) -> np.ndarray:
    return (RNG.random((12, 18, classes)) < 0.4).astype(np.uint8)


@pytest.mark.parametrize("classes", [1, 2, 3, 4])
def test_png_is_lossless_with_class_k_in_channel_k(classes):
    mask = _binary(classes)
    out, _ = MaskConverter("channels", classes, "uint8")(mask)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(out))))
    assert (
        Image.open(io.BytesIO(encode_png(out))).mode
        == {1: "L", 2: "RGB", 3: "RGB", 4: "RGBA"}[classes]
    )
    for k in range(classes):
        channel = decoded if classes == 1 else decoded[..., k]  # RGB(A) order
        np.testing.assert_array_equal(channel, mask[..., k] * 255)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_keeps_size_channels_and_content(channels):
    yy, xx = np.mgrid[:40, :56]
    gray = (128 + 60 * np.sin(xx / 6) * np.cos(yy / 5)).astype(np.uint8)
    image = gray if channels == 1 else np.stack([gray, 255 - gray, gray // 2], axis=-1)
    decoded = np.asarray(Image.open(io.BytesIO(encode_jpeg(image, 95))))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image).mean() < 2.0
