"""Segmentation metrics from pooled per-class confusion counts.

Every mask here is boolean (..., H, W, K): one channel per class, classes may overlap.
Counts are summed over all pixels of all frames first (dataset-level, "pooled"), then
turned into ratios, so a large frame weighs more than a small one and a class that is
rare in most frames is still scored on every pixel where it occurs.

Undefined ratios (0/0) follow one rule everywhere, in pooled and per-frame scores:
a class absent from both the ground truth and the prediction scores 1.0 (nothing to
find, nothing wrongly found); any other 0/0 scores 0.0 (e.g. precision of a class that
is present but never predicted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METRIC_NAMES = ("iou", "dice", "precision", "recall")


@dataclass
class ConfusionCounts:
    """Per-class pixel counts, summed over every frame seen so far."""

    n_classes: int
    tp: np.ndarray = field(init=False)
    fp: np.ndarray = field(init=False)
    fn: np.ndarray = field(init=False)
    tn: np.ndarray = field(init=False)
    exact_pixels: int = 0  # pixels whose predicted class set equals the true one
    pixels: int = 0

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn", "tn"):
            setattr(self, name, np.zeros(self.n_classes, dtype=np.int64))

    def add(self, truth: np.ndarray, pred: np.ndarray) -> None:
        """Add boolean masks shaped (..., H, W, K) — one frame or a batch."""
        self.add_joint(joint_counts(truth, pred))

    def add_joint(self, joint: np.ndarray) -> None:
        """Add a (2**K, 2**K) table of (true label set, predicted label set) pixel counts."""
        tp, fp, fn, tn = counts_from_joint(joint)
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.tn += tn
        self.exact_pixels += int(np.trace(joint))
        self.pixels += int(joint.sum())


def label_codes(masks: np.ndarray) -> np.ndarray:
    """(..., K) boolean -> the class set of each pixel as an integer, bit k = class k."""
    codes = np.zeros(masks.shape[:-1], dtype=np.intp)
    for k in range(masks.shape[-1]):
        codes |= masks[..., k].astype(np.intp) << k
    return codes


def joint_counts(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pixel counts per (true label set, predicted label set): one bincount gives every
    per-class count and the exact-match count at once (at most 16 x 16 sets for 4 classes)."""
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {truth.shape} != prediction shape {pred.shape}")
    n_sets = 1 << truth.shape[-1]
    joint = label_codes(truth).ravel() * n_sets + label_codes(pred).ravel()
    return np.bincount(joint, minlength=n_sets * n_sets).reshape(n_sets, n_sets).astype(np.int64)


def counts_from_joint(joint: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tp, fp, fn, tn) per class from a joint label-set table."""
    n_classes = int(joint.shape[0]).bit_length() - 1
    has = (np.arange(joint.shape[0])[:, None] >> np.arange(n_classes)) & 1  # (sets, K)
    lacks = 1 - has
    # sum over label sets a (true) and p (predicted) of joint[a, p] * [k in a] * [k in p]
    tp = np.einsum("ak,ap,pk->k", has, joint, has)
    fn = np.einsum("ak,ap,pk->k", has, joint, lacks)
    fp = np.einsum("ak,ap,pk->k", lacks, joint, has)
    tn = np.einsum("ak,ap,pk->k", lacks, joint, lacks)
    return tp, fp, fn, tn


def binary_counts(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tp, fp, fn, tn) per class (last axis) summed over every other axis, as int64."""
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {truth.shape} != prediction shape {pred.shape}")
    truth = truth.astype(bool, copy=False).reshape(-1, truth.shape[-1])
    pred = pred.astype(bool, copy=False).reshape(-1, pred.shape[-1])
    total = np.int64(truth.shape[0])
    positives = truth.sum(axis=0, dtype=np.int64)
    predicted = pred.sum(axis=0, dtype=np.int64)
    tp = np.logical_and(truth, pred).sum(axis=0, dtype=np.int64)
    fp = predicted - tp
    fn = positives - tp
    tn = total - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(num: np.ndarray, den: np.ndarray, both_empty: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.where(den > 0, out, np.where(both_empty, 1.0, 0.0))


def scores_from_counts(tp, fp, fn) -> dict[str, np.ndarray]:
    """IoU, Dice, precision, recall per class (arrays broadcast over any leading axes)."""
    tp, fp, fn = (np.asarray(a, dtype=np.int64) for a in (tp, fp, fn))
    both_empty = (tp + fp + fn) == 0
    return {
        "iou": _ratio(tp, tp + fp + fn, both_empty),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
    }


def joint_iou(joint: np.ndarray) -> float:
    """Mean-over-classes IoU of the pixels summarised by one joint table (one frame)."""
    tp, fp, fn, _ = counts_from_joint(joint)
    return float(scores_from_counts(tp, fp, fn)["iou"].mean())


def frame_iou(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Mean-over-classes IoU of each frame of a batch (N, H, W, K) -> (N,)."""
    truth = truth.astype(bool, copy=False)
    pred = pred.astype(bool, copy=False)
    axes = (1, 2)
    tp = np.logical_and(truth, pred).sum(axis=axes, dtype=np.int64)
    fp = pred.sum(axis=axes, dtype=np.int64) - tp
    fn = truth.sum(axis=axes, dtype=np.int64) - tp
    return scores_from_counts(tp, fp, fn)["iou"].mean(axis=-1)


def summarize(counts: ConfusionCounts, classes: list[str], digits: int = 6) -> dict:
    """Pooled scores as the JSON layout `dvc metrics diff` compares: class names as keys."""
    if len(classes) != counts.n_classes:
        raise ValueError(f"{len(classes)} class names for {counts.n_classes} classes")
    scores = scores_from_counts(counts.tp, counts.fp, counts.fn)
    per_class = {
        name: {metric: round(float(scores[metric][k]), digits) for metric in METRIC_NAMES}
        for k, name in enumerate(classes)
    }
    mean = {metric: round(float(scores[metric].mean()), digits) for metric in METRIC_NAMES}
    accuracy = counts.exact_pixels / counts.pixels if counts.pixels else 0.0
    return {
        "mean": mean,
        "per_class": per_class,
        "pixel_accuracy": round(float(accuracy), digits),
    }
