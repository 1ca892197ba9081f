"""Thresholded, pooled IoU / Dice metrics on known arrays."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from stackseg.train.metrics import PooledScore, metric_name, segmentation_metrics

# 1 image, 1x4 pixels, 2 classes
TRUE = np.array([[[[1, 0], [1, 0], [0, 1], [0, 0]]]], np.float32)
PROB = np.array([[[[0.9, 0.1], [0.2, 0.5], [0.7, 0.49], [0.1, 0.0]]]], np.float32)
# class 0: pred [1,0,1,0] vs true [1,1,0,0] -> tp 1 fp 1 fn 1: IoU 1/3, Dice 1/2
# class 1: pred [0,1,0,0] (0.5 >= threshold) vs true [0,0,1,0] -> tp 0: IoU 0, Dice 0


def _score(kind: str, class_index, y_true=TRUE, y_pred=PROB, threshold=0.5) -> float:
    metric = PooledScore(kind, 2, class_index, threshold)
    metric.update_state(y_true, y_pred)
    return float(metric.result())


def test_per_class_and_mean_by_hand():
    assert _score("iou", 0) == pytest.approx(1 / 3)
    assert _score("dice", 0) == pytest.approx(1 / 2)
    assert _score("iou", 1) == 0.0 and _score("dice", 1) == 0.0
    assert _score("iou", None) == pytest.approx(1 / 6)
    assert _score("dice", None) == pytest.approx(1 / 4)


def test_threshold_is_inclusive_and_configurable():
    # at 0.49 the class-1 pixel of 0.49 becomes a true positive: tp 1 fp 1 fn 0 -> IoU 1/2
    assert _score("iou", 1, threshold=0.49) == pytest.approx(1 / 2)


def test_counts_are_pooled_over_batches_not_averaged():
    metric = PooledScore("iou", 2, 0, 0.5)
    metric.update_state(TRUE[:, :, :2], PROB[:, :, :2])  # tp 1 fn 1 -> alone 1/2
    metric.update_state(TRUE[:, :, 2:], PROB[:, :, 2:])  # fp 1 -> alone 0
    assert float(metric.result()) == pytest.approx(1 / 3)  # pooled, not (1/2 + 0) / 2
    metric.reset_state()
    metric.update_state(TRUE, TRUE)
    assert float(metric.result()) == 1.0


def test_class_absent_from_truth_and_prediction_scores_one():
    empty = np.zeros((1, 2, 2, 2), np.float32)
    assert _score("iou", None, empty, empty) == 1.0
    assert _score("dice", 1, empty, empty) == 1.0


def test_names_and_serialisation():
    metrics = segmentation_metrics(["disc", "big ring"], 0.5)
    assert [m.name for m in metrics] == [
        "iou",
        "dice",
        "iou_disc",
        "dice_disc",
        "iou_big_ring",
        "dice_big_ring",
    ]
    assert metric_name("iou", "a/b") == "iou_a_b"
    restored = keras.metrics.deserialize(keras.metrics.serialize(metrics[2]))
    assert (restored.kind, restored.class_index, restored.threshold) == ("iou", 0, 0.5)
