"""Thresholded IoU and Dice (F1), pooled over every pixel of the epoch, per class and mean.

Each metric accumulates per-class true positive, false positive and false negative pixel
counts of `probability >= threshold` over all batches, and reports tp / (tp + fp + fn)
(IoU) or 2tp / (2tp + fp + fn) (Dice) from the totals: a dataset-level score, not a mean
of per-batch scores. A class absent from both truth and prediction scores 1. The overall
score is the mean over classes.
"""

from __future__ import annotations

import keras
from keras import ops

from stackseg.classnames import metric_safe

KINDS = ("iou", "dice")


def metric_name(kind: str, class_name: str | None = None) -> str:
    """'iou' or 'iou_<class>' (class name reduced to characters safe in file names)."""
    if class_name is None:
        return kind
    return f"{kind}_{metric_safe(class_name)}"


@keras.saving.register_keras_serializable(package="stackseg")
class PooledScore(keras.metrics.Metric):
    def __init__(
        self,
        kind: str = "iou",
        n_classes: int = 1,
        class_index: int | None = None,
        threshold: float = 0.5,
        name: str | None = None,
        **kwargs,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        super().__init__(name=name or kind, **kwargs)
        self.kind, self.n_classes = kind, n_classes
        self.class_index, self.threshold = class_index, threshold
        # float64: pixel counts of a large epoch exceed float32's exact integer range
        self.counts = {
            key: self.add_variable((n_classes,), "zeros", dtype="float64", name=key)
            for key in ("tp", "fp", "fn")
        }

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight
        axes = tuple(range(len(y_pred.shape) - 1))
        # float32 is exact for the counts of one batch (< 2**24 pixels per class); the
        # epoch totals are accumulated in float64
        predicted = ops.cast(ops.cast(y_pred, "float32") >= self.threshold, "float32")
        actual = ops.cast(ops.cast(y_true, "float32") >= 0.5, "float32")
        tp = ops.sum(predicted * actual, axis=axes)
        fp = ops.sum(predicted, axis=axes) - tp
        fn = ops.sum(actual, axis=axes) - tp
        for key, count in (("tp", tp), ("fp", fp), ("fn", fn)):
            self.counts[key].assign_add(ops.cast(count, "float64"))

    def result(self):
        tp, fp, fn = (self.counts[k] for k in ("tp", "fp", "fn"))
        if self.kind == "iou":
            numerator, denominator = tp, tp + fp + fn
        else:
            numerator, denominator = 2.0 * tp, 2.0 * tp + fp + fn
        scores = ops.where(denominator > 0, numerator / ops.maximum(denominator, 1.0), 1.0)
        score = scores[self.class_index] if self.class_index is not None else ops.mean(scores)
        return ops.cast(score, "float32")

    def reset_state(self):
        for variable in self.counts.values():
            variable.assign(
                ops.zeros(variable.shape, variable.dtype)
            )  # JAX: no zeros_like(Variable)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kind": self.kind,
            "n_classes": self.n_classes,
            "class_index": self.class_index,
            "threshold": self.threshold,
        }


def segmentation_metrics(classes: list[str], threshold: float) -> list[PooledScore]:
    """iou, dice, then iou_<class> and dice_<class> for every class."""
    k = len(classes)
    metrics = [PooledScore(kind, k, None, threshold, name=metric_name(kind)) for kind in KINDS]
    for index, class_name in enumerate(classes):
        for kind in KINDS:
            name = metric_name(kind, class_name)
            metrics.append(PooledScore(kind, k, index, threshold, name=name))
    return metrics
