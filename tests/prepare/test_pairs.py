"""A job's pairs: the codecs (lossless PNG masks with class k in channel k, JPEG images of
any size) and the file writer (pairs wait in memory and are created in bursts)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from stackseg.prepare.masks import MaskConverter
from stackseg.prepare.pairs import _PairFiles, encode_jpeg, encode_png

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


def _files(root) -> dict[str, bytes]:
    return {
        f"{folder}/{name}": (root / folder / name).read_bytes()
        for folder in ("images", "masks")
        for name in sorted(os.listdir(root / folder))
    }


def test_files_are_created_in_bursts_of_the_batch_size(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    files = _PairFiles(str(tmp_path), batch=2)
    expected = {}
    for index in range(3):
        for relative in (f"images/{index}.jpg", f"masks/{index}.png"):
            files.write(relative, relative.encode() * (index + 1))
            expected[relative] = relative.encode() * (index + 1)
        # two pairs make a burst; the third pair waits for flush
        assert len(_files(tmp_path)) == (4 if index >= 1 else 0)
    files.flush()
    files.close()
    assert _files(tmp_path) == expected


def test_files_still_waiting_at_close_are_not_written(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    files = _PairFiles(str(tmp_path), batch=16)
    files.write("images/0.jpg", b"x")
    files.close()  # a job that stops on a problem closes without flushing
    assert _files(tmp_path) == {}


def test_large_files_go_out_once_the_byte_limit_is_reached(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    files = _PairFiles(str(tmp_path), batch=16, max_bytes=1000)
    files.write("images/0.jpg", b"x" * 600)
    assert _files(tmp_path) == {}  # under the limit: waits
    files.write("masks/0.png", b"y" * 600)  # 1,200 bytes waiting: out now, not at 16 pairs
    assert _files(tmp_path) == {"images/0.jpg": b"x" * 600, "masks/0.png": b"y" * 600}
    files.write("images/1.jpg", b"z")
    assert len(_files(tmp_path)) == 2  # the count started again
    files.close()
