"""The tf.data input: shapes, dtypes, value ranges, and reproducibility per (seed, epoch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stackseg.errors import InputDataError
from stackseg.train.dataset import PairSource, build_train_input, train_dataset
from stackseg.train.prepared import read_prepared
from tests.conftest import train_config

CLASSES = ["disc", "ring", "streak"]
CFG = train_config(image_size=32, batch_size=4, epochs=3)


def _input(prepared: Path, cfg=CFG, start=0, budget=10**9, seed=42):
    data = read_prepared(prepared, CLASSES)
    return build_train_input(
        data.splits["train"], data.splits["val"], 1, 3, cfg, seed, start, budget
    )


def _batches(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_shapes_dtypes_ranges(prepared: Path):
    inputs = _input(prepared)
    assert inputs.cached and inputs.steps_per_epoch == 2  # 6 train pairs, batches of 4
    batches = _batches(inputs.train)
    assert len(batches) == 3 * 2
    assert [len(x) for x, _ in batches[:2]] == [4, 2]  # last batch of an epoch is partial
    for x, y in batches:
        assert x.dtype == np.float32 and x.shape[1:] == (32, 32, 1)
        assert y.dtype == np.float32 and y.shape[1:] == (32, 32, 3)
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert set(np.unique(y)) <= {0.0, 1.0}
    val = _batches(inputs.val)
    assert [len(x) for x, _ in val] == [2] and val[0][0].shape[1:] == (32, 32, 1)


def test_images_and_masks_stay_aligned(prepared: Path):
    """Foreground is drawn bright in the fixture: crops, flips and turns must keep that."""
    x, y = (np.concatenate(parts) for parts in zip(*_batches(_input(prepared).train), strict=True))
    foreground = y.max(axis=-1) > 0
    assert x[..., 0][foreground].mean() > x[..., 0][~foreground].mean() + 0.3


def test_epochs_are_reproducible_and_differ(prepared: Path):
    first = _batches(_input(prepared).train)
    second = _batches(_input(prepared).train)
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], first[2][0])  # epoch 0 vs epoch 1
    other_seed = _batches(_input(prepared, seed=7).train)
    assert not np.array_equal(first[0][0], other_seed[0][0])


def test_resumed_stream_equals_the_tail_of_the_full_one(prepared: Path):
    """Starting at epoch 1 yields exactly epochs 1.. of a run started at epoch 0."""
    full = _batches(_input(prepared).train)
    resumed = _batches(_input(prepared, start=1).train)
    assert len(resumed) == 4
    for (x1, y1), (x2, y2) in zip(full[2:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_cache_decision_does_not_change_the_data(prepared: Path):
    cached, uncached = _input(prepared), _input(prepared, budget=0)
    assert cached.cached and not uncached.cached
    for a, b in [(cached.train, uncached.train), (cached.val, uncached.val)]:
        for (x1, y1), (x2, y2) in zip(_batches(a), _batches(b), strict=True):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)


def test_without_augmentation_a_full_size_crop_is_the_frame(prepared: Path):
    """No augmentation and a crop as large as the frame: batches hold the decoded pairs."""
    data = read_prepared(prepared, CLASSES)
    cfg = train_config(
        image_size=40,
        batch_size=8,
        augment={"flip": False, "rot90": False, "brightness": 0, "contrast": 0},
    )
    pairs = data.splits["val"]  # two 32x40 frames, padded to 40x40 (4 rows above and below)
    source = PairSource(pairs, 1, 3, in_memory=False)
    ((x, y),) = _batches(train_dataset(source, cfg, 0, 0, 1)[0])
    from PIL import Image

    frames = {
        np.asarray(Image.open(path), np.float32).tobytes(): np.asarray(Image.open(mask))
        for path, mask in zip(pairs.images, pairs.masks, strict=True)
    }
    for image, masks in zip(x, y, strict=True):
        assert np.all(image[:4] == 0) and np.all(image[36:] == 0) and np.all(masks[:4] == 0)
        key = (image[4:36, :, 0] * 255).round().astype(np.float32).tobytes()
        np.testing.assert_array_equal(masks[4:36], frames[key][..., :3] > 127)


def test_small_frames_are_padded_to_the_crop(prepared: Path):
    data = read_prepared(prepared, CLASSES)
    small = data.splits["train"]  # includes a 28x24 stack, smaller than the 32 crop
    assert min(small.heights) < 32 and min(small.widths) < 32
    source = PairSource(small, 1, 3, in_memory=True)
    for x, y in _batches(train_dataset(source, CFG, 0, 0, 1)[0]):
        assert x.shape[1:3] == (32, 32) and y.shape[1:3] == (32, 32)


def test_undecodable_file_is_named(prepared: Path):
    data = read_prepared(prepared, CLASSES)
    bad = data.splits["train"].images[1]
    Path(bad).write_bytes(b"not a jpeg")
    with pytest.raises(InputDataError, match=f"{bad}: cannot be decoded"):
        PairSource(data.splits["train"], 1, 3, in_memory=True)
