"""train.threshold auto (stackseg.train.threshold): the chooser on constructed probabilities
with a known optimum, its counts against a brute force, and the card it writes."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.train.threshold import GRID, GridCounts, best_on_grid, choose, score


def frame(values_per_class: list[tuple[list[float], list[float]]]) -> tuple:
    """(truth, probs) of one (1, N, K) frame: per class (positive probs, negative probs),
    padded with negatives at 0.0 so every class has N pixels."""
    n = max(len(pos) + len(neg) for pos, neg in values_per_class)
    probs = np.zeros((1, n, len(values_per_class)), np.float32)
    truth = np.zeros(probs.shape, bool)
    for k, (pos, neg) in enumerate(values_per_class):
        probs[0, : len(pos), k] = pos
        truth[0, : len(pos), k] = True
        probs[0, len(pos) : len(pos) + len(neg), k] = neg
    return truth, probs


def test_known_optimum_per_class_and_ties_nearest_half():
    counts = GridCounts(3)
    truth, probs = frame(
        [
            # perfect for every t in (0.65, 0.80]: 0.66 .. 0.80, the nearest 0.5 is 0.66
            ([0.8] * 100, [0.3] * 100 + [0.65] * 10),
            # perfect for t in (0.10, 0.20]: the nearest 0.5 is 0.20
            ([0.2] * 50 + [0.4] * 50, [0.1] * 100),
            # no positive pixel: nothing to choose, 0.5 kept
            ([], [0.7] * 20),
        ]
    )
    counts.add(truth, probs)
    thresholds, record = choose(counts, "f1")
    assert thresholds == [0.66, 0.2, 0.5]
    assert record.scores[:2] == [1.0, 1.0]
    # at 0.5: class 0 takes the 10 negatives at 0.65 (F1 200/210), class 1 misses 0.2 and 0.4
    assert record.scores_at_default[0] == pytest.approx(200 / 210, abs=1e-6)
    assert record.scores_at_default[1] == 0.0
    assert record.pixels == [100, 100, 0]
    assert (record.metric, record.split) == ("f1", "val")


def test_counts_match_a_brute_force_over_frames():
    rng = np.random.default_rng(3)
    counts = GridCounts(2)
    frames = []
    for _ in range(3):
        truth = rng.random((9, 7, 2)) < 0.3
        # informative but noisy probabilities; some exactly on grid values
        probs = np.clip(truth * 0.35 + rng.random(truth.shape) * 0.65, 0, 1).astype(np.float32)
        probs[0, 0] = GRID[10]
        counts.add(truth, probs)
        frames.append((truth, probs))
    for k in range(2):
        tp, fp, fn = counts.confusion(k)
        for j, t in enumerate(GRID):
            pred = [p[..., k] >= t for _, p in frames]
            true = [tr[..., k] for tr, _ in frames]
            assert tp[j] == sum(int((a & b).sum()) for a, b in zip(pred, true, strict=True))
            assert fp[j] == sum(int((a & ~b).sum()) for a, b in zip(pred, true, strict=True))
            assert fn[j] == sum(int((~a & b).sum()) for a, b in zip(pred, true, strict=True))
        # the chosen value is the brute force's best (F1 and IoU agree)
        f1 = score(tp, fp, fn, "f1")
        iou = score(tp, fp, fn, "iou")
        assert f1.max() == pytest.approx(
            max(2 * a / (2 * a + b + c) for a, b, c in zip(tp, fp, fn, strict=True))
        )
        assert best_on_grid(f1) == best_on_grid(iou)


def test_metric_iou_reports_iou():
    counts = GridCounts(1)
    truth, probs = frame([([0.9] * 30 + [0.4] * 10, [0.2] * 60)])
    counts.add(truth, probs)
    thresholds, record = choose(counts, "iou")
    assert thresholds == [0.4]  # perfect in (0.2, 0.4]: the nearest 0.5
    assert record.scores == [1.0] and record.scores_at_default == [0.75]
