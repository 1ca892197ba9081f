"""Losses on arrays whose values are known by hand."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from stackseg.train.losses import LOSSES, SMOOTH, SegmentationLoss


def _loss(kind: str, y_true, y_pred) -> float:
    return float(
        SegmentationLoss(kind)(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))
    )


# one image, 2x2 pixels, one class: truth [1,1,0,0], prediction [1,0,1,0] (as probabilities)
TRUE = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
PRED = np.array([1, 0, 1, 0], np.float32).reshape(1, 2, 2, 1)


def test_bce_by_hand():
    y_true = np.array([1, 0], np.float32).reshape(1, 1, 2, 1)
    y_pred = np.array([0.9, 0.2], np.float32).reshape(1, 1, 2, 1)
    assert _loss("bce", y_true, y_pred) == pytest.approx(
        -(math.log(0.9) + math.log(0.8)) / 2, rel=1e-5
    )


def test_dice_and_jaccard_by_hand():
    # tp = 1, |pred| = 2, |true| = 2: dice = 2/4, iou = 1/3
    assert _loss("dice", TRUE, PRED) == pytest.approx(1 - (2 + SMOOTH) / (4 + SMOOTH), abs=1e-6)
    assert _loss("jaccard", TRUE, PRED) == pytest.approx(1 - (1 + SMOOTH) / (3 + SMOOTH), abs=1e-6)
    assert _loss("dice", TRUE, TRUE) == pytest.approx(0.0, abs=1e-6)
    assert _loss("jaccard", TRUE, 1 - TRUE) == pytest.approx(1.0, abs=1e-4)


def test_dice_is_pooled_over_the_batch_and_averaged_over_classes():
    # class 0 perfect, class 1 disjoint -> mean dice 0.5
    y_true = np.stack([TRUE[..., 0], TRUE[..., 0]], axis=-1)
    y_pred = np.stack([TRUE[..., 0], 1 - TRUE[..., 0]], axis=-1)
    assert _loss("dice", y_true, y_pred) == pytest.approx(0.5, abs=1e-4)
    # two images with half the pixels each give the same result as one image with all of them
    halves = (
        np.concatenate([TRUE[:, :1], TRUE[:, 1:]], axis=0),
        np.concatenate([PRED[:, :1], PRED[:, 1:]], axis=0),
    )
    assert _loss("dice", *halves) == pytest.approx(_loss("dice", TRUE, PRED), abs=1e-6)


def test_focal_by_hand():
    y_true = np.array([1, 0], np.float32).reshape(1, 1, 2, 1)
    y_pred = np.array([0.9, 0.3], np.float32).reshape(1, 1, 2, 1)
    positive = -0.25 * (1 - 0.9) ** 2 * math.log(0.9)
    negative = -0.75 * 0.3**2 * math.log(1 - 0.3)
    assert _loss("focal", y_true, y_pred) == pytest.approx((positive + negative) / 2, rel=1e-5)


@pytest.mark.parametrize(
    ("combined", "terms"),
    [
        ("bce_dice", ("bce", "dice")),
        ("bce_jaccard", ("bce", "jaccard")),
        ("focal_dice", ("focal", "dice")),
    ],
)
def test_combined_losses_are_sums(combined: str, terms: tuple[str, str]):
    rng = np.random.default_rng(0)
    y_true = (rng.random((2, 4, 4, 3)) > 0.5).astype(np.float32)
    y_pred = rng.random((2, 4, 4, 3)).astype(np.float32)
    expected = sum(_loss(term, y_true, y_pred) for term in terms)
    assert _loss(combined, y_true, y_pred) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_losses_serialise_and_train(kind: str):
    restored = keras.losses.deserialize(keras.losses.serialize(SegmentationLoss(kind)))
    assert isinstance(restored, SegmentationLoss) and restored.kind == kind
    rng = np.random.default_rng(1)
    y_true = (rng.random((2, 4, 4, 2)) > 0.5).astype(np.float32)
    y_pred = rng.random((2, 4, 4, 2)).astype(np.float32)
    assert _loss(kind, y_true, y_pred) == pytest.approx(float(restored(y_true, y_pred)), rel=1e-6)
    assert _loss(kind, y_true, y_true) < _loss(kind, y_true, 1 - y_true)


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        SegmentationLoss("hinge")
