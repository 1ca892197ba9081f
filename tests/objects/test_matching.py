"""Matching and object metrics: a hand-computed example and a brute-force check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stackseg.objects.matching import match, overlaps, splits_and_merges
from stackseg.objects.metrics import DSB_TAUS, ObjectCounts, f1_rows, summarize


def hand_example() -> tuple[np.ndarray, np.ndarray]:
    """6 x 6 frame, 4 true objects (T1..T4) and 5 predicted ones (P1..P5):

    T1 rows 0-1 x cols 0-2 (6 px)    P1 rows 0-1 x cols 0-1 (4 px): inside T1, IoU 4/6
    T2 rows 3-5 x cols 0-1 (6 px)    P2 rows 3-5 x col 0 (3 px), P3 rows 3-5 x col 1 (3 px):
                                      each IoU 3/6 = 0.5 with T2, both inside it: T2 is split
    T3 rows 3-4 x cols 4-5 (4 px)    P4 rows 3-5 x cols 3-5 (9 px): T3 (IoU 4/9) and
    T4 row 5 x col 3 (1 px)              T4 (IoU 1/9) both inside it: P4 is a merge
                                      P5 row 0 x col 5 (1 px): touches nothing
    """
    truth = np.zeros((6, 6), np.int32)
    truth[0:2, 0:3] = 1
    truth[3:6, 0:2] = 2
    truth[3:5, 4:6] = 3
    truth[5, 3] = 4
    pred = np.zeros((6, 6), np.int32)
    pred[0:2, 0:2] = 1
    pred[3:6, 0] = 2
    pred[3:6, 1] = 3
    pred[3:6, 3:6] = 4
    pred[0, 5] = 5
    return truth, pred


def test_hand_computed_example():
    truth, pred = hand_example()
    ov = overlaps(truth, pred)
    assert np.allclose(
        ov.dense_iou(),
        [[4 / 6, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0], [0, 0, 0, 4 / 9, 0], [0, 0, 0, 1 / 9, 0]],
    )
    assert splits_and_merges(ov) == (1, 1)  # T2 split in P2 + P3; P4 merges T3 + T4
    # tau 0.5: only T1-P1 (0.667); T2-P2 and T2-P3 are exactly 0.5, not above it
    assert match(ov, 0.5).tp == 1
    # tau 0.4: T2 matches one of P2/P3 (one-to-one) and T3-P4 (0.444) joins: 3 matches
    low = match(ov, 0.4)
    assert low.tp == 3 and np.isclose(low.iou.sum(), 4 / 6 + 0.5 + 4 / 9)
    counts = ObjectCounts(match_iou=0.5)
    counts.add(truth, pred)
    got = summarize(counts)
    # TP 1, FP 5 - 1 = 4, FN 4 - 1 = 3
    assert got["precision"] == pytest.approx(1 / 5, abs=1e-6)
    assert got["recall"] == pytest.approx(1 / 4, abs=1e-6)
    assert got["f1"] == pytest.approx(2 / (2 + 4 + 3), abs=1e-6)
    assert got["mean_matched_iou"] == pytest.approx(4 / 6, abs=1e-6)
    assert got["pq"] == pytest.approx(4 / 6 * 2 / 9, abs=1e-6)
    # T1-P1's IoU 0.667 is above tau 0.5, 0.55, 0.6, 0.65 (TP 1: 1 / (1 + 4 + 3) = 1/8) and
    # nothing matches at 0.7 ... 0.95: AP = 4 * (1/8) / 10
    assert len(DSB_TAUS) == 10
    assert got["ap_dsb"] == pytest.approx(0.05, abs=1e-6)
    assert (got["splits"], got["merges"]) == (1, 1)
    assert got["counts"] == {
        "frames": 1,
        "true": 4,
        "predicted": 5,
        "matched": 1,
        "missed": 3,
        "false": 4,
    }
    rows = {row["tau"]: row for row in f1_rows(counts)}
    assert rows[0.4]["f1"] == pytest.approx(2 * 3 / (4 + 5), abs=1e-6)
    assert rows[0.7]["f1"] == 0.0


def test_counts_pool_over_frames_and_empty_frames_count_false_positives():
    truth, pred = hand_example()
    counts = ObjectCounts(match_iou=0.5)
    counts.add(truth, pred)
    counts.add(np.zeros_like(truth), pred)  # 5 false objects, nothing to find
    got = summarize(counts)
    assert got["counts"]["predicted"] == 10 and got["counts"]["true"] == 4
    assert got["precision"] == pytest.approx(1 / 10, abs=1e-6)
    empty = ObjectCounts(match_iou=0.5)
    empty.add(np.zeros((3, 3), int), np.zeros((3, 3), int))
    assert summarize(empty)["f1"] == 1.0 and summarize(empty)["ap_dsb"] == 1.0


def random_labels(rng: np.random.Generator, shape=(14, 14)) -> np.ndarray:
    """Up to 5 random rectangles painted over each other, with non-sequential ids."""
    out = np.zeros(shape, np.int64)
    ids = rng.choice(np.arange(1, 1000), size=rng.integers(0, 6), replace=False)
    for obj in ids:
        y, x = rng.integers(0, shape[0] - 2), rng.integers(0, shape[1] - 2)
        h, w = rng.integers(2, 8), rng.integers(2, 8)
        out[y : y + h, x : x + w] = obj
    return out


def brute_force(truth: np.ndarray, pred: np.ndarray, tau: float):
    """Pixel masks, every pair, every one-to-one assignment: (tp, matched IoU sum, splits,
    merges), maximising the number of matches first and the IoU sum second."""
    t_ids = [i for i in np.unique(truth) if i]
    p_ids = [i for i in np.unique(pred) if i]
    iou = np.zeros((len(t_ids), len(p_ids)))
    inter = np.zeros_like(iou)
    for a, t in enumerate(t_ids):
        for b, p in enumerate(p_ids):
            both = np.sum((truth == t) & (pred == p))
            inter[a, b] = both
            iou[a, b] = both / np.sum((truth == t) | (pred == p))
    best = (0, 0.0)
    small, large = sorted((len(t_ids), len(p_ids)))
    for perm in itertools.permutations(range(large), small):
        pairs = zip(range(small), perm, strict=True)
        if len(t_ids) > len(p_ids):
            pairs = ((b, a) for a, b in pairs)
        values = [iou[a, b] for a, b in pairs if iou[a, b] > tau]
        best = max(best, (len(values), sum(values)))
    t_area = np.array([np.sum(truth == t) for t in t_ids])
    p_area = np.array([np.sum(pred == p) for p in p_ids])
    splits = sum(np.sum(inter[a] > 0.5 * p_area) >= 2 for a in range(len(t_ids)))
    merges = sum(np.sum(inter[:, b] > 0.5 * t_area) >= 2 for b in range(len(p_ids)))
    return best[0], best[1], int(splits), int(merges)


def test_agrees_with_brute_force_on_random_label_images():
    rng = np.random.default_rng(16)
    for _ in range(150):
        truth = random_labels(rng)
        # predictions: a perturbed copy of the truth (shifted, relabelled) or independent
        if rng.random() < 0.6:
            pred = np.roll(truth, rng.integers(-1, 2, size=2), axis=(0, 1)) * 3 + 7
            pred[truth == 0] = 0 if rng.random() < 0.5 else pred[truth == 0]
            pred[pred == 7] = 0
        else:
            pred = random_labels(rng)
        ov = overlaps(truth, pred)
        for tau in (0.1, 0.3, 0.5, 0.75):
            tp, iou_sum, splits, merges = brute_force(truth, pred, tau)
            found = match(ov, tau)
            assert found.tp == tp, (tau, truth, pred)
            assert found.iou.sum() == pytest.approx(iou_sum)
            assert len(set(found.true_index)) == tp == len(set(found.pred_index))
            assert (splits, merges) == splits_and_merges(ov)
