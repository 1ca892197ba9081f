"""Reading stacks: every accepted layout and codec gives the right frames, page by page."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from stackseg.prepare.frames import StackReader
from stackseg.prepare.tiff import LayoutError, read_layout

F, H, W = 4, 20, 28  # non-square on purpose
RNG = np.random.default_rng(7)
GRAY8 = RNG.integers(0, 256, (F, H, W), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (F, H, W), dtype=np.uint16)
FLOAT32 = RNG.random((F, H, W), dtype=np.float32)
RGB8 = RNG.integers(0, 256, (F, H, W, 3), dtype=np.uint8)


def _imwrite(**kwargs):
    return lambda path, data: tifffile.imwrite(path, data, **kwargs)


def _one_write_per_frame(path, data):
    # the common "loop over frames" writer: every call is its own shaped series
    with tifffile.TiffWriter(path) as tif:
        for frame in data:
            tif.write(frame, photometric="minisblack")


def _generic_pages(path, data):
    with tifffile.TiffWriter(path) as tif:
        for frame in data:
            tif.write(frame, photometric="minisblack", metadata=None)


def _imagej_tzcyx(path, data):
    # (T=2, Z=2, C=3, Y, X): 4 frames of 3 channels, one page per channel
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX"})


GRAY = {"photometric": "minisblack"}
CASES = {
    # name: (writer, data written, expected frames (F, H, W[, C]))
    "uint8 gray": (_imwrite(**GRAY), GRAY8, GRAY8),
    "uint16 gray": (_imwrite(**GRAY), GRAY16, GRAY16),
    "float32 gray": (_imwrite(**GRAY), FLOAT32, FLOAT32),
    "single page": (_imwrite(**GRAY), GRAY8[0], GRAY8[:1]),
    "rgb (H,W,3) pages": (_imwrite(photometric="rgb"), RGB8, RGB8),
    "channel-first pages": (
        _imwrite(photometric="rgb", planarconfig="separate"),
        np.ascontiguousarray(RGB8.transpose(0, 3, 1, 2)),
        RGB8,
    ),
    "lzw": (_imwrite(compression="lzw", **GRAY), GRAY16, GRAY16),
    "deflate": (_imwrite(compression="zlib", **GRAY), GRAY8, GRAY8),
    "zstd": (_imwrite(compression="zstd", **GRAY), FLOAT32, FLOAT32),
    "tiled": (_imwrite(tile=(16, 16), compression="zlib", **GRAY), GRAY8, GRAY8),
    "bigtiff": (_imwrite(bigtiff=True, **GRAY), GRAY16, GRAY16),
    "big-endian": (_imwrite(byteorder=">", **GRAY), GRAY16, GRAY16),
    "big-endian float rgb": (
        _imwrite(byteorder=">", photometric="rgb"),
        RGB8.astype(np.float32) / 255,
        RGB8.astype(np.float32) / 255,
    ),
    "one write per frame": (_one_write_per_frame, GRAY8, GRAY8),
    "generic pages": (_generic_pages, GRAY8, GRAY8),
    "imagej TZYX": (
        _imwrite(imagej=True, metadata={"axes": "TZYX"}),
        GRAY16.reshape(2, 2, H, W),
        GRAY16,
    ),
    "imagej TZCYX": (
        _imagej_tzcyx,
        np.ascontiguousarray(RGB8.reshape(2, 2, H, W, 3).transpose(0, 1, 4, 2, 3)),
        RGB8,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_reads_every_frame_of_each_format(tmp_path, case):
    writer, data, expected = CASES[case]
    path = tmp_path / "stack.tif"
    writer(path, data)
    layout = read_layout(str(path))
    assert (layout.frames, layout.height, layout.width) == expected.shape[:3]
    assert layout.channels == (expected.shape[3] if expected.ndim == 4 else 1)
    assert layout.dtype == expected.dtype.name
    with StackReader(layout) as reader:
        for index in range(layout.frames):
            frame = reader.frame(index)
            assert frame.flags.c_contiguous
            np.testing.assert_array_equal(frame, expected[index])


def test_channel_first_unlabelled_masks_use_the_class_count(tmp_path):
    # tifffile.imwrite(mask) of (F, K, H, W) has axes 'QQYX': the K planes are the classes
    masks = (RNG.random((F, 3, H, W)) < 0.5).astype(np.uint8)
    path = tmp_path / "mask.tif"
    tifffile.imwrite(path, masks, photometric="minisblack")
    layout = read_layout(str(path), class_axis_size=3)
    assert (layout.frames, layout.channels) == (F, 3)
    with StackReader(layout) as reader:
        np.testing.assert_array_equal(reader.frame(2), masks[2].transpose(1, 2, 0))
    # without the hint the same file is 12 single-channel frames
    assert read_layout(str(path)).frames == F * 3


def test_reader_reads_pages_not_the_whole_stack(tmp_path, monkeypatch):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, GRAY8, photometric="minisblack")
    monkeypatch.setattr(
        tifffile.TiffFile, "asarray", lambda *a, **k: pytest.fail("whole-stack read")
    )
    monkeypatch.setattr(tifffile, "imread", lambda *a, **k: pytest.fail("whole-stack read"))
    layout = read_layout(str(path))
    with StackReader(layout) as reader:
        np.testing.assert_array_equal(reader.frame(3), GRAY8[3])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "not a TIFF file (it is a PNG image)"),
        (b"hello world, not an image", "not a TIFF file"),
        (b"II*\x00\x00\x00\x00\x00", "empty stack"),
        (b"II*\x00" + bytes(range(256)) * 4, "damaged or truncated TIFF"),
    ],
)
def test_unusable_files_say_why(tmp_path, content, message):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(LayoutError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_layout(str(path))


@pytest.mark.parametrize("kind", ["contiguous", "compressed"])
def test_truncated_files_are_caught_from_metadata(tmp_path, kind):
    path = tmp_path / "stack.tif"
    if kind == "contiguous":
        tifffile.imwrite(path, GRAY8, photometric="minisblack")
    else:
        _generic_pages(path, GRAY8)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LayoutError, match="truncated"):
        read_layout(str(path))


def test_frames_of_different_sizes_are_refused(tmp_path):
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(GRAY8[0], metadata=None)
        tif.write(GRAY8[0, :, :-2], metadata=None)
    with pytest.raises(LayoutError, match="frames differ in size"):
        read_layout(str(path))


DIRECT_CASES = {
    # name: (imwrite arguments, data, read without tifffile?)
    "uncompressed": ({}, GRAY16, True),
    "lzw uint8": ({"compression": "lzw"}, GRAY8, True),
    "lzw uint16, 3 rows per strip": ({"compression": "lzw", "rowsperstrip": 3}, GRAY16, True),
    "deflate rgb": ({"compression": "zlib", "photometric": "rgb"}, RGB8, True),
    "zstd float": ({"compression": "zstd"}, FLOAT32, True),
    "lzw + predictor": ({"compression": "lzw", "predictor": True}, GRAY16, False),
    "tiled": ({"compression": "zlib", "tile": (16, 16)}, GRAY8, False),
    "big-endian uint16": ({"byteorder": ">", "compression": "lzw"}, GRAY16, False),
    "big-endian uint8": ({"byteorder": ">", "compression": "lzw"}, GRAY8, True),
    "channel-first": (
        {"photometric": "rgb", "planarconfig": "separate"},
        np.ascontiguousarray(RGB8.transpose(0, 3, 1, 2)),
        True,
    ),
    "channel-first lzw": (
        {"photometric": "rgb", "planarconfig": "separate", "compression": "lzw"},
        np.ascontiguousarray(RGB8.transpose(0, 3, 1, 2)),
        False,
    ),
}


@pytest.mark.parametrize("case", list(DIRECT_CASES))
def test_common_layouts_are_read_without_tifffile(tmp_path, case, monkeypatch):
    kwargs, data, direct = DIRECT_CASES[case]
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, **{"photometric": "minisblack", **kwargs})
    # frames are (H, W[, C]): channel-first pages come out channel-last
    expected = data.transpose(0, 2, 3, 1) if kwargs.get("planarconfig") else data
    layout = read_layout(str(path))
    assert (layout.direct is not None) == direct
    if direct:  # the direct path must not fall back on tifffile's page decoding
        monkeypatch.setattr(tifffile.TiffPage, "asarray", lambda *a, **k: pytest.fail("tifffile"))
        monkeypatch.setattr(tifffile.TiffFrame, "asarray", lambda *a, **k: pytest.fail("tifffile"))
    with StackReader(layout) as reader:
        frames = [reader.frame(index) for index in range(F)]
        frames[2][0, 0] += 1  # frames are writable arrays of their own
        np.testing.assert_array_equal(reader.frame(2), expected[2])
    for frame, want in zip(frames, expected, strict=True):
        if frame is not frames[2]:
            np.testing.assert_array_equal(frame, want)


def test_a_reused_buffer_holds_only_the_last_frame(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, GRAY8, photometric="minisblack", compression="lzw")
    with StackReader(read_layout(str(path)), reuse_buffer=True) as reader:
        first = reader.frame(0)
        second = reader.frame(1)
        assert np.shares_memory(first, second)
        np.testing.assert_array_equal(second, GRAY8[1])


def test_channels_in_separate_pages_never_share_a_buffer(tmp_path):
    path = tmp_path / "stack.tif"
    _imagej_tzcyx(path, np.ascontiguousarray(RGB8.reshape(2, 2, H, W, 3).transpose(0, 1, 4, 2, 3)))
    with StackReader(read_layout(str(path)), reuse_buffer=True) as reader:
        np.testing.assert_array_equal(reader.frame(3), RGB8[3])


def test_a_corrupt_strip_fails_when_its_frame_is_read(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, GRAY8, photometric="minisblack", compression="zlib")
    layout = read_layout(str(path))
    offset, count = layout.direct.strips[2][0]
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = b"\xff" * count
    path.write_bytes(bytes(data))
    with StackReader(layout) as reader:
        np.testing.assert_array_equal(reader.frame(1), GRAY8[1])
        with pytest.raises(Exception, match="(?i)deflate|zlib|decod"):
            reader.frame(2)


def test_sparse_strips_are_left_to_tifffile(tmp_path):
    # a strip with byte count 0 (GDAL's SPARSE_OK) is all zeros for tifffile; the direct
    # path would hand empty bytes to the decompressor
    path = tmp_path / "sparse.tif"
    data = np.full((F, 12, 10), 9, np.uint8)
    tifffile.imwrite(path, data, compression="zlib", rowsperstrip=4, photometric="minisblack")
    with tifffile.TiffFile(path, mode="r+b", is_shaped=False) as tif:
        tag = tif.pages[1].tags["StripByteCounts"]
        tag.overwrite([count if i != 1 else 0 for i, count in enumerate(tag.value)])
    layout = read_layout(str(path))
    assert layout.direct is None
    with StackReader(layout) as reader:
        frame = reader.frame(1)
    assert not frame[4:8].any() and (frame[:4] == 9).all()
