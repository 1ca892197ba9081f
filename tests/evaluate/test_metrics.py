"""Pooled and per-frame metrics on small arrays with hand-computed expected values."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.evaluate import metrics


def masks(*rows_per_class: list[list[int]]) -> np.ndarray:
    """(H, W, K) boolean from one 2-D 0/1 list per class."""
    return np.stack([np.array(rows, dtype=bool) for rows in rows_per_class], axis=-1)


EMPTY = [[0, 0, 0], [0, 0, 0]]


def test_counts_and_scores_by_hand():
    truth = masks([[1, 1, 0], [0, 0, 0]], EMPTY)
    pred = masks([[1, 0, 1], [0, 0, 0]], EMPTY)
    tp, fp, fn, tn = metrics.binary_counts(truth, pred)
    assert tp.tolist() == [1, 0] and fp.tolist() == [1, 0]
    assert fn.tolist() == [1, 0] and tn.tolist() == [3, 6]
    scores = metrics.scores_from_counts(tp, fp, fn)
    # class 0: tp=1 fp=1 fn=1 -> IoU 1/3, Dice 2/4; class 1 absent everywhere -> 1.0
    assert scores["iou"] == pytest.approx([1 / 3, 1.0])
    assert scores["dice"] == pytest.approx([0.5, 1.0])
    assert scores["precision"] == pytest.approx([0.5, 1.0])
    assert scores["recall"] == pytest.approx([0.5, 1.0])


def test_missed_class_and_false_alarm_score_zero():
    truth = masks([[1, 0, 0], [0, 0, 0]], EMPTY)
    pred = masks(EMPTY, [[0, 0, 1], [0, 0, 0]])
    scores = metrics.scores_from_counts(*metrics.binary_counts(truth, pred)[:3])
    # class 0 present, never predicted: precision is 0/0 but not "both empty" -> 0.0
    # class 1 predicted, absent: recall is 0/0 but not "both empty" -> 0.0
    for name in metrics.METRIC_NAMES:
        assert scores[name].tolist() == [0.0, 0.0], name


def test_pooled_summary_over_frames():
    counts = metrics.ConfusionCounts(2)
    # frame 1: class 0 perfect (2 px), class 1 absent in both
    counts.add(masks([[1, 1, 0], [0, 0, 0]], EMPTY), masks([[1, 1, 0], [0, 0, 0]], EMPTY))
    # frame 2: class 0 missed (1 px); class 1 tp=1, fp=1
    counts.add(
        masks([[0, 0, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 0]]),
        masks(EMPTY, [[1, 1, 0], [0, 0, 0]]),
    )
    doc = metrics.summarize(counts, ["disc", "ring"])
    # class 0 pooled: tp=2 fp=0 fn=1 -> IoU 2/3, Dice 4/5, precision 1, recall 2/3
    assert doc["per_class"]["disc"] == pytest.approx(
        {"iou": 2 / 3, "dice": 0.8, "precision": 1.0, "recall": 2 / 3}, abs=1e-6
    )
    # class 1 pooled: tp=1 fp=1 fn=0 -> IoU 1/2, Dice 2/3, precision 1/2, recall 1
    assert doc["per_class"]["ring"] == pytest.approx(
        {"iou": 0.5, "dice": 2 / 3, "precision": 0.5, "recall": 1.0}, abs=1e-6
    )
    assert doc["mean"]["iou"] == pytest.approx((2 / 3 + 0.5) / 2, abs=1e-6)
    # exact-match pixels: frame 1 all 6; frame 2 wrong at (0,1) and (1,2) -> 10/12
    assert doc["pixel_accuracy"] == pytest.approx(10 / 12, abs=1e-6)
    assert counts.pixels == 12


def test_frame_iou_is_the_mean_over_classes_per_frame():
    truth = np.stack(
        [
            masks([[1, 1, 0], [0, 0, 0]], EMPTY),
            masks([[1, 0, 0], [0, 0, 0]], [[1, 1, 1], [1, 0, 0]]),
        ]
    )
    pred = np.stack([masks([[1, 0, 0], [0, 0, 0]], EMPTY), masks(EMPTY, [[1, 1, 0], [0, 0, 0]])])
    # frame 0: class 0 IoU 1/2, class 1 empty in both -> 1; frame 1: class 0 0, class 1 2/4
    assert metrics.frame_iou(truth, pred) == pytest.approx([0.75, 0.25])


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        metrics.binary_counts(np.zeros((2, 2, 1), bool), np.zeros((2, 3, 1), bool))


def test_summary_names_every_class():
    counts = metrics.ConfusionCounts(3)
    with pytest.raises(ValueError):
        metrics.summarize(counts, ["a", "b"])


@pytest.mark.parametrize("n_classes", [1, 3, 4])
def test_joint_table_gives_the_same_counts_as_direct_sums(n_classes):
    rng = np.random.default_rng(n_classes)
    truth = rng.random((2, 9, 11, n_classes)) > 0.6  # overlapping classes included
    pred = rng.random((2, 9, 11, n_classes)) > 0.5
    joint = metrics.joint_counts(truth, pred)
    assert joint.shape == (2**n_classes, 2**n_classes) and joint.sum() == 2 * 9 * 11
    for from_joint, direct in zip(
        metrics.counts_from_joint(joint), metrics.binary_counts(truth, pred), strict=True
    ):
        assert from_joint.tolist() == direct.tolist()
    assert np.trace(joint) == np.all(truth == pred, axis=-1).sum()
    single = metrics.joint_counts(truth[0], pred[0])
    assert metrics.joint_iou(single) == pytest.approx(metrics.frame_iou(truth, pred)[0])


def test_label_codes():
    masks = np.array([[[1, 0, 1], [0, 0, 0], [1, 1, 1]]], bool)
    assert metrics.label_codes(masks).tolist() == [[5, 0, 7]]
