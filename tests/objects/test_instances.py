"""Post-processing: components, distance- and boundary-seeded watershed, min_size."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.config import ObjectsConfig
from stackseg.objects.instances import instances, renumber


def cfg(**over) -> ObjectsConfig:
    values = {
        "method": "watershed",
        "seeds": "distance",
        "min_distance": 3,
        "min_size": 1,
        "match_iou": 0.5,
    }
    return ObjectsConfig(**{**values, **over})


def disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def two_touching_discs() -> tuple[np.ndarray, np.ndarray]:
    """Foreground (H, W, 1) of two radius-8 discs whose centres are 14 px apart (they
    overlap in a lens), and the true ids (left disc 1, right disc 2, split at the middle)."""
    left, right = disc((24, 40), (12, 12), 8), disc((24, 40), (12, 26), 8)
    ids = np.zeros((24, 40), np.int32)
    ids[left] = 1
    ids[right & ~left] = 2
    ids[left & right & (np.arange(40) >= 19)[None, :]] = 2
    return (left | right)[..., None], ids


def test_components_merge_touching_discs_and_watershed_separates_them():
    masks, ids = two_touching_discs()
    merged = instances(masks, cfg(method="components"))
    assert merged.max() == 1 and (merged > 0).sum() == masks.sum()
    split = instances(masks, cfg())
    assert split.max() == 2
    assert (split > 0).sum() == masks.sum()  # watershed loses no foreground
    # each output object is mostly one true disc (agreement on > 95 % of the pixels)
    for obj in (1, 2):
        counts = np.bincount(ids[split == obj], minlength=3)
        assert counts.max() / counts.sum() > 0.95
    assert {int(ids[split == 1].mean().round()), int(ids[split == 2].mean().round())} == {1, 2}


def test_min_distance_larger_than_the_discs_merges_them_back():
    masks, _ = two_touching_discs()
    assert instances(masks, cfg(min_distance=20)).max() == 1


def test_min_size_drops_small_objects_only():
    masks = np.zeros((20, 20, 1), bool)
    masks[1:4, 1:4] = True  # 9 px
    masks[10:12, 10:14] = True  # 8 px
    masks[16, 16] = True  # 1 px
    for method in ("components", "watershed"):
        kept = instances(masks, cfg(method=method, min_size=8))
        assert kept.max() == 2
        assert (kept > 0).sum() == 17 and kept[16, 16] == 0
        assert instances(masks, cfg(method=method, min_size=10)).max() == 0
        assert instances(masks, cfg(method=method, min_size=0)).max() == 3


def test_ids_are_sequential_in_raster_order_and_deterministic():
    masks = np.zeros((12, 12, 1), bool)
    masks[8:11, 1:4] = True  # first in raster order: the top one below
    masks[1:4, 8:11] = True
    first = instances(masks, cfg())
    assert first[2, 9] == 1 and first[9, 2] == 2
    assert np.array_equal(first, instances(masks, cfg()))
    assert np.array_equal(renumber(np.array([[0, 7], [3, 7]])), [[0, 1], [2, 1]])


def boundary_example():
    """Two 6x6 squares side by side touching; class 1 marks the object pixels touching
    another id or background (the labels_boundary training target)."""
    ids = np.zeros((10, 16), np.int32)
    ids[2:8, 2:8] = 1
    ids[2:8, 8:14] = 2
    boundary = np.zeros_like(ids, bool)
    padded = np.pad(ids, 1)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        neighbour = padded[1 + dy : 11 + dy, 1 + dx : 17 + dx]
        boundary |= (ids > 0) & (neighbour != ids)
    return np.stack([ids > 0, boundary], axis=-1), ids


def test_boundary_seeds_split_touching_squares():
    masks, ids = boundary_example()
    assert instances(masks, cfg(method="components")).max() == 1
    split = instances(masks, cfg(seeds="boundary"), boundary_class=1)
    assert np.array_equal(split, ids)
    probs = masks.astype(np.float32) * 0.9
    with_probs = instances(masks, cfg(seeds="boundary"), probs=probs, boundary_class=1)
    assert np.array_equal(with_probs, ids)


def test_boundary_seeds_need_a_boundary_class():
    masks, _ = boundary_example()
    with pytest.raises(ValueError, match="boundary class"):
        instances(masks[..., :1], cfg(seeds="boundary"), boundary_class=None)


def test_a_component_without_a_seed_is_kept_whole():
    masks, _ = boundary_example()
    masks = masks.copy()
    masks[1, 1, :] = True  # a 1-pixel object that is all boundary: no boundary seed
    masks[1, 1, 1] = True
    out = instances(masks, cfg(seeds="boundary"), boundary_class=1)
    assert out.max() == 3 and out[1, 1] == 1


def test_a_flat_ridge_is_one_seed():
    masks = np.zeros((12, 30, 1), bool)
    masks[3:6, 2:28] = True  # a 3 x 26 bar: its middle row is one ridge of distance 2
    masks[8:10, 2:10] = True  # a 2 x 8 bar: all of it at distance 1
    assert instances(masks, cfg(min_distance=2)).max() == 2
