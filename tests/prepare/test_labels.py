"""Instance-label masks: checks, relabelling to uint16 ids, boundaries, the ids PNG, and the
MaskConverter's labels format."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.segmentation import find_boundaries, relabel_sequential

from stackseg.prepare import labels
from stackseg.prepare.masks import MaskConverter, MaskValueError
from stackseg.prepare.pairs import encode_png

RNG = np.random.default_rng(16)


def touching_squares() -> np.ndarray:
    """Two 4x4 objects side by side (ids 7 and 3, touching along a column) and a lone one."""
    frame = np.zeros((8, 14), np.uint16)
    frame[2:6, 1:5] = 7
    frame[2:6, 5:9] = 3
    frame[1:3, 11:13] = 40
    return frame


def random_labels(dtype, shape=(23, 31), ids=(0, 5, 6, 900, 70_000)) -> np.ndarray:
    """Blocky random labels (runs of ids, so objects have insides and touch each other)."""
    values = np.array([v for v in ids if v <= np.iinfo(dtype).max], dtype=dtype)
    coarse = RNG.choice(values, (shape[0] // 3 + 1, shape[1] // 3 + 1))
    return np.kron(coarse, np.ones((3, 3), dtype))[: shape[0], : shape[1]]


def test_boundaries_cut_between_touching_objects():
    ids = labels.relabel(touching_squares())
    edge = labels.boundaries(ids)
    # both sides of the contact line are boundary: the objects' inner pixels never touch
    assert edge[2:6, 4].all() and edge[2:6, 5].all()
    inner = (ids != 0) & ~edge
    count = ndimage.label(inner, structure=np.ones((3, 3)))[1]  # 8-connected
    assert count == 2  # the two squares; the 2x2 object is all boundary
    assert ndimage.label(ids != 0)[1] == 2  # without the cut the squares are one blob
    assert not edge[ids == 0].any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int32, np.int64])
def test_relabel_and_boundaries_match_scikit_image(dtype):
    for _ in range(3):
        frame = random_labels(dtype)
        ids = labels.relabel(labels.check(frame))
        assert ids.dtype == np.uint16
        expected = relabel_sequential(frame)[0]
        np.testing.assert_array_equal(ids, expected)
        np.testing.assert_array_equal(
            labels.boundaries(ids), find_boundaries(frame, mode="inner", background=0)
        )


def test_relabel_without_background_and_with_a_channel_axis():
    frame = np.full((4, 5, 1), 9, np.uint32)
    frame[0, 0, 0] = 12
    ids = labels.relabel(labels.check(frame))
    assert ids.shape == (4, 5) and ids[0, 0] == 2 and (ids.ravel()[1:] == 1).all()


def test_ids_png_is_16_bit_grayscale_and_round_trips(tmp_path):
    ids = np.arange(1, 33 * 17 + 1, dtype=np.uint16).reshape(33, 17) * 97  # up to 54,417
    data = encode_png(ids)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[24:26] == bytes([16, 0])  # IHDR: bit depth 16, colour type 0 (grayscale)
    np.testing.assert_array_equal(imagecodecs.png_decode(data), ids)
    (tmp_path / "ids.png").write_bytes(data)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ids.png")), ids)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.full((4, 4), 1.0, np.float32), "float32 values: instance labels are integers"),
        (np.full((4, 4), -3, np.int16), "negative label -3"),
        (np.zeros((4, 4, 3), np.uint16), "a label image with 3 channels"),
        (np.full((4, 4), 2**32, np.uint64), "label 4294967296 is above 4294967295"),
        (np.arange(65_536, dtype=np.uint32).reshape(256, 256) + 1, "65536 objects, more than"),
    ],
    ids=["float", "negative", "channels", "above uint32", "too many objects"],
)
def test_each_label_problem_is_one_message(frame, message):
    with pytest.raises(MaskValueError, match=message) as err:
        MaskConverter("labels", 1, frame.dtype.name)(frame)
    assert "\n" not in str(err.value)


def test_65535_objects_still_fit():
    frame = np.arange(65_536, dtype=np.uint32).reshape(256, 256)  # 0 and 65,535 ids
    _mask, counts, ids = MaskConverter("labels", 1, "uint32").with_ids(frame)
    assert ids is not None and int(ids.max()) == 65_535 and counts == [65_535]


@pytest.mark.parametrize("classes", [1, 2])
def test_converter_makes_object_and_boundary_classes(classes):
    frame = touching_squares()
    mask, counts, ids = MaskConverter("labels", classes, "uint16").with_ids(frame)
    assert ids is not None
    np.testing.assert_array_equal(ids, relabel_sequential(frame)[0])
    objects = (frame != 0) * 255
    if classes == 1:
        assert mask.shape == (8, 14) and mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, objects)
        assert counts == [int(np.count_nonzero(frame))]
        return
    assert mask.shape == (8, 14, 3)  # RGB: objects, boundaries, an unused 0 channel
    np.testing.assert_array_equal(mask[..., 0], objects)
    np.testing.assert_array_equal(mask[..., 1], find_boundaries(frame, mode="inner") * 255)
    assert not mask[..., 2].any()
    assert counts == [36, int(find_boundaries(frame, mode="inner").sum())]


def test_other_formats_have_no_ids():
    mask = (RNG.random((5, 6, 3)) < 0.5).astype(np.uint8)
    assert MaskConverter("channels", 3, "uint8").with_ids(mask)[2] is None
