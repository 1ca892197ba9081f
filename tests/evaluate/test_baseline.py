"""The intensity-threshold baseline on synthetic arrays with a known best rule."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.evaluate import baseline


def test_recovers_a_bright_and_a_dark_class():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(40, 50), dtype=np.uint8)
    image[0, :4] = [39, 40, 41, 149]  # make sure the boundary values occur
    image[1, :2] = [150, 151]
    mask = np.stack([image >= 150, image <= 40], axis=-1)
    rules = baseline.fit_baseline([(image, mask)], n_classes=2)
    assert (rules[0].direction, rules[0].threshold) == ("above", 150)
    assert (rules[1].direction, rules[1].threshold) == ("below", 40)
    assert rules[0].train_iou == 1.0 and rules[1].train_iou == 1.0
    assert np.array_equal(baseline.predict_baseline(image, rules), mask)


def test_best_rule_from_hand_made_histograms_with_ties():
    positive = np.zeros((1, 256), np.int64)
    negative = np.zeros((1, 256), np.int64)
    positive[0, 200], positive[0, 100] = 3, 1
    negative[0, 100], negative[0, 50] = 5, 2
    (rule,) = baseline.best_rules(positive, negative)
    # above t for t in 101..200: tp=3 fp=0 fn=1 -> 3/4; above <=100 catches 5 negatives (4/9);
    # "below" rules never beat 4/11. Ties go to the smallest threshold.
    assert (rule.direction, rule.threshold) == ("above", 101)
    assert rule.train_iou == pytest.approx(0.75)


def test_class_without_positives_predicts_nothing():
    image = np.full((4, 4), 77, np.uint8)
    mask = np.zeros((4, 4, 1), bool)
    (rule,) = baseline.fit_baseline([(image, mask)], n_classes=1)
    assert rule.threshold == 256 and rule.direction == "above"
    assert not baseline.predict_baseline(
        np.arange(256, dtype=np.uint8).reshape(16, 16), [rule]
    ).any()


def test_rgb_uses_luma():
    image = np.zeros((2, 2, 3), np.uint8)
    image[0, 0] = (0, 255, 0)  # luma 0.587 * 255 = 149.7 -> 150
    image[0, 1] = (0, 0, 255)  # luma 29.07 -> 29
    image[1, 0] = (255, 0, 0)  # luma 76.2 -> 76
    assert baseline.to_gray(image).tolist() == [[150, 29], [76, 0]]
    mask = np.zeros((2, 2, 1), bool)
    mask[0, 0, 0] = True
    (rule,) = baseline.fit_baseline([(image, mask)], n_classes=1)
    assert (rule.direction, rule.threshold) == ("above", 77)


def test_histograms_accumulate_over_frames_and_score_on_test():
    frames = [np.array([[10, 200], [30, 220]], np.uint8), np.array([[250, 5], [15, 180]], np.uint8)]
    truths = [(f >= 128)[..., None] for f in frames]
    hist = baseline.IntensityHistograms(1)
    for frame, truth in zip(frames, truths, strict=True):
        hist.add(frame, truth)
    assert hist.positive.sum() == 4 and hist.negative.sum() == 4
    assert hist.positive[0, 200] == 1 and hist.negative[0, 5] == 1
    rule = baseline.ThresholdRule(190, "above", 0.0)
    counts = baseline.score_baseline(zip(frames, truths, strict=True), [rule])
    # 180 is positive but below 190: one false negative, three true positives
    assert (counts.tp[0], counts.fp[0], counts.fn[0], counts.tn[0]) == (3, 0, 1, 4)


def test_rejects_non_8bit_images():
    with pytest.raises(ValueError, match="8-bit"):
        baseline.to_gray(np.zeros((2, 2), np.uint16))
