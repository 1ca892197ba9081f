"""Segmentation losses on K-channel sigmoid probabilities, as in segmentation-models.

Our own implementations of segmentation-models' definitions (its loss objects are Keras 2
era and not serialisable by Keras 3): soft Dice and Jaccard are computed over the whole
batch per class and averaged over classes (smooth 1e-5), focal loss is the binary focal
loss with alpha 0.25 and gamma 2, and the combined losses are sums (bce_dice = bce + dice).
"""

from __future__ import annotations

import keras
from keras import ops

from stackseg.config import LOSSES as LOSS_NAMES

SMOOTH = 1e-5
EPSILON = 1e-7
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0


def _sums(y_true, y_pred):
    """Per-class true positives, predicted and true sums over batch and pixels."""
    axes = tuple(range(len(y_pred.shape) - 1))
    intersection = ops.sum(y_true * y_pred, axis=axes)
    return intersection, ops.sum(y_pred, axis=axes), ops.sum(y_true, axis=axes)


def dice_loss(y_true, y_pred):
    tp, predicted, actual = _sums(y_true, y_pred)
    return 1.0 - ops.mean((2.0 * tp + SMOOTH) / (predicted + actual + SMOOTH))


def jaccard_loss(y_true, y_pred):
    tp, predicted, actual = _sums(y_true, y_pred)
    return 1.0 - ops.mean((tp + SMOOTH) / (predicted + actual - tp + SMOOTH))


def bce_loss(y_true, y_pred):
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -ops.mean(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))


def focal_loss(y_true, y_pred):
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    positive = -y_true * FOCAL_ALPHA * ops.power(1.0 - p, FOCAL_GAMMA) * ops.log(p)
    negative = -(1.0 - y_true) * (1.0 - FOCAL_ALPHA) * ops.power(p, FOCAL_GAMMA) * ops.log(1.0 - p)
    return ops.mean(positive + negative)


TERMS = {"bce": bce_loss, "dice": dice_loss, "jaccard": jaccard_loss, "focal": focal_loss}
# the allowed names are the config's (train.loss); a name is its terms joined by "_"
LOSSES = {name: tuple(name.split("_")) for name in LOSS_NAMES}


@keras.saving.register_keras_serializable(package="stackseg")
class SegmentationLoss(keras.losses.Loss):
    """One of LOSSES by name: the sum of its terms, a scalar for the whole batch."""

    def __init__(self, kind: str = "bce", name: str | None = None, **kwargs):
        if kind not in LOSSES:
            raise ValueError(f"unknown loss {kind!r}; one of {', '.join(LOSSES)}")
        super().__init__(name=name or kind, **kwargs)
        self.kind = kind

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        total = TERMS[LOSSES[self.kind][0]](y_true, y_pred)
        for term in LOSSES[self.kind][1:]:
            total = total + TERMS[term](y_true, y_pred)
        return total

    def get_config(self) -> dict:
        return {**super().get_config(), "kind": self.kind}
