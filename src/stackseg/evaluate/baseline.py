"""The trivial baseline every report is compared with: one global intensity threshold per class.

For each class k a rule `intensity >= t` or `intensity <= t` (t in 0..255, on the 8-bit
image; RGB images use their luma, 0.299 R + 0.587 G + 0.114 B) is chosen to maximise the
IoU pooled over every pixel of the training split. It is learned on train only and then
scored on test like the model, so the gap between the two is an honest measure of what the
network learned beyond "bright things are objects".

Fitting is histogram-based: one pass builds, per class, 256-bin intensity histograms of
positive and negative pixels; cumulative sums then give the IoU of all 2 x 256 rules at
once, so fitting costs one bincount per frame whatever the number of thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from stackseg.evaluate.metrics import ConfusionCounts

LEVELS = 256
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class ThresholdRule:
    """Predict the class where `intensity >= threshold` ("above") or `<= threshold` ("below")."""

    threshold: int
    direction: str  # "above" | "below"
    train_iou: float

    def apply(self, gray: np.ndarray) -> np.ndarray:
        if self.direction == "above":
            return gray >= self.threshold
        return gray <= self.threshold


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) intensity: the image itself if single-channel, else its luma."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"baseline works on 8-bit images, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 3:
        luma = image.astype(np.float32) @ LUMA_WEIGHTS.astype(np.float32)
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got {image.shape}")


class IntensityHistograms:
    """Per-class 256-bin intensity histograms of positive and negative pixels."""

    def __init__(self, n_classes: int):
        self.positive = np.zeros((n_classes, LEVELS), dtype=np.int64)
        self.negative = np.zeros((n_classes, LEVELS), dtype=np.int64)

    def add(self, image: np.ndarray, mask: np.ndarray) -> None:
        """Add one frame: image (H, W[, C]) uint8, mask (H, W, K) boolean."""
        gray = to_gray(image).reshape(-1).astype(np.int64)
        mask = mask.reshape(-1, mask.shape[-1]).astype(bool, copy=False)
        if mask.shape[0] != gray.shape[0]:
            raise ValueError("image and mask sizes differ")
        for k in range(self.positive.shape[0]):
            # one bincount splits the frame into negative (0..255) and positive (256..511) bins
            both = np.bincount(gray + LEVELS * mask[:, k], minlength=2 * LEVELS)
            self.negative[k] += both[:LEVELS]
            self.positive[k] += both[LEVELS:]


def best_rules(positive: np.ndarray, negative: np.ndarray) -> list[ThresholdRule]:
    """Best IoU rule per class from (K, 256) histograms.

    Ties go to the first rule in the order: "above" with t = 0..255, then "below" with
    t = 0..255, so the choice is deterministic. A class with no positive pixel gets
    "above 256" (predict nothing), the only rule with no false positive.
    """
    rules = []
    for pos, neg in zip(positive.astype(np.int64), negative.astype(np.int64), strict=True):
        total_pos = int(pos.sum())
        if total_pos == 0:
            rules.append(ThresholdRule(LEVELS, "above", 1.0))
            continue
        # above t: predicted = bins t..255 -> suffix sums; below t: bins 0..t -> prefix sums
        tp_above = np.cumsum(pos[::-1])[::-1]
        fp_above = np.cumsum(neg[::-1])[::-1]
        tp_below = np.cumsum(pos)
        fp_below = np.cumsum(neg)
        tp = np.concatenate([tp_above, tp_below])
        fp = np.concatenate([fp_above, fp_below])
        iou = tp / (total_pos + fp)  # tp + fp + fn == total_pos + fp
        best = int(np.argmax(iou))
        direction = "above" if best < LEVELS else "below"
        rules.append(ThresholdRule(best % LEVELS, direction, float(iou[best])))
    return rules


def fit_baseline(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], n_classes: int
) -> list[ThresholdRule]:
    """Learn one rule per class from (image uint8, mask bool (H, W, K)) pairs."""
    histograms = IntensityHistograms(n_classes)
    for image, mask in pairs:
        histograms.add(image, mask)
    return best_rules(histograms.positive, histograms.negative)


def predict_baseline(image: np.ndarray, rules: list[ThresholdRule]) -> np.ndarray:
    """Boolean (H, W, K) prediction of the baseline rules on one 8-bit image."""
    gray = to_gray(image)
    return np.stack([rule.apply(gray) for rule in rules], axis=-1)


def score_baseline(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], rules: list[ThresholdRule]
) -> ConfusionCounts:
    """Pooled confusion counts of the rules on (image, mask) pairs."""
    counts = ConfusionCounts(len(rules))
    for image, mask in pairs:
        counts.add(mask.astype(bool, copy=False), predict_baseline(image, rules))
    return counts
