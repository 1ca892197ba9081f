"""The bootstrap intervals of evaluate.json (evaluate/uncertainty.py) on constructed counts."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.evaluate import uncertainty


def frame(tp: int, fp: int, fn: int, classes: int = 1) -> np.ndarray:
    return np.array([[tp] * classes, [fp] * classes, [fn] * classes], dtype=np.int64)


def test_frames_are_summed_per_unit():
    units, counts = uncertainty.unit_counts(
        ["b", "a", "b"], [frame(1, 2, 3), frame(10, 0, 0), frame(4, 5, 6)]
    )
    assert units == ["a", "b"]
    assert counts[:, :, 0].tolist() == [[10, 0, 0], [5, 7, 9]]


def test_identical_units_give_a_zero_width_interval():
    counts = np.stack([frame(8, 1, 1)] * 6)
    scores = uncertainty.bootstrap_iou(counts, 500, seed=3)
    assert np.all(scores == 0.8)


def test_by_hand_two_units():
    """Units A (IoU 1: tp 4) and B (IoU 0: fn 4). A resample is AA (1.0), BB (0.0) or AB/BA
    (4 / 8 = 0.5), with probabilities 1/4, 1/4 and 1/2: every score is one of the three,
    in about those shares, and the 95% range spans 0 to 1."""
    counts = np.stack([frame(4, 0, 0), frame(0, 0, 4)])
    scores = uncertainty.bootstrap_iou(counts, 4000, seed=0)[:, 0]
    values, seen = np.unique(scores, return_counts=True)
    assert values.tolist() == [0.0, 0.5, 1.0]
    assert seen / seen.sum() == pytest.approx([0.25, 0.5, 0.25], abs=0.03)
    document = uncertainty.intervals(
        ["c"], ["A", "B"], ["A_f0", "B_f0"], list(counts), 4000, min_stacks=2, seed=0
    )
    assert document["mean_iou"] == {"low": 0.0, "high": 1.0}


def test_chunking_does_not_change_the_draws():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 50, size=(7, 3, 2))
    whole = uncertainty.bootstrap_iou(counts, 300, seed=9, chunk=300)
    pieces = uncertainty.bootstrap_iou(counts, 300, seed=9, chunk=7)
    assert np.array_equal(whole, pieces)
    assert not np.array_equal(whole, uncertainty.bootstrap_iou(counts, 300, seed=10))


def test_stacks_are_resampled_when_there_are_enough_else_frames():
    """Two stacks of three frames each: frames of one stack alike, the stacks not. Resampling
    frames treats 6 as independent and gives a narrower range than the 2 stacks do."""
    stacks = ["s1"] * 3 + ["s2"] * 3
    names = [f"{s}_f{i}" for i, s in enumerate(stacks)]
    counts = [frame(9, 1, 0)] * 3 + [frame(3, 3, 4)] * 3

    def interval(min_stacks: int) -> dict:
        return uncertainty.intervals(["c"], stacks, names, counts, 2000, min_stacks, seed=5)

    by_stack, by_frame = interval(min_stacks=2), interval(min_stacks=3)
    assert (by_stack["unit"], by_stack["units"]) == ("stack", 2)
    assert (by_frame["unit"], by_frame["units"]) == ("frame", 6)

    def width(document: dict) -> float:
        return document["mean_iou"]["high"] - document["mean_iou"]["low"]

    assert width(by_frame) < width(by_stack)
    pooled = 36 / (36 + 12 + 12)  # every frame once
    for document in (by_stack, by_frame):
        assert document["mean_iou"]["low"] < pooled < document["mean_iou"]["high"]
        assert document["per_class_iou"]["c"] == document["mean_iou"]  # one class
