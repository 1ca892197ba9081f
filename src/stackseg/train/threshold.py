"""`train.threshold: auto`: per class, the threshold that maximises `train.threshold_metric`
on the val split, chosen after training (best weights restored) and recorded in the card.

1. Predict every val frame at native resolution (as evaluate predicts the test split:
   `predict.predict_frames` through the Keras backend's one traced graph), streaming.
2. Per class, count pooled val pixels at each candidate threshold: a frame's probabilities
   are placed on the grid with one `searchsorted` (the index of the highest grid value
   <= p), so two (classes, grid) histograms of positive and negative pixels hold every
   count; memory does not grow with the split.
3. Per class, the grid value with the highest F1 (or IoU) of the pooled counts; ties go to
   the value nearest 0.5 (then the lower). A class with no positive val pixel keeps 0.5
   (nothing to choose from), and the card's `threshold_choice.pixels` shows it.

The grid is 0.05, 0.06, ..., 0.95 (91 values) rather than every distinct probability: one
pass with fixed memory whatever the size of the split, a choice that val noise cannot
place at the very ends (where a handful of pixels decide), and a resolution (0.01) far
finer than the F1 curve changes over (docs/objects.md shows the curve's plateau). F1 and
IoU (TP / (TP + FP + FN)) are monotone in each other, so both metrics choose the same
threshold on the same counts; the option says which one is reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.config import Config
from stackseg.contracts import ModelCard, OutputContract, Pair, ThresholdChoice
from stackseg.progress import progress
from stackseg.train.prepared import PreparedData

log = logging.getLogger(__name__)

GRID = np.round(np.arange(5, 96) / 100.0, 2).astype(np.float32)
GRID_TEXT = "0.05..0.95 step 0.01"
DEFAULT = 0.5
SPLIT = "val"


class GridCounts:
    """Pooled (classes, grid) counts of positive and negative pixels with p >= grid[j]."""

    def __init__(self, n_classes: int, grid: np.ndarray = GRID):
        self.grid = np.asarray(grid, dtype=np.float32)
        size = len(self.grid) + 1  # searchsorted index 0..len(grid)
        self.positive = np.zeros((n_classes, size), dtype=np.int64)
        self.negative = np.zeros((n_classes, size), dtype=np.int64)

    def add(self, truth: np.ndarray, probs: np.ndarray) -> None:
        """One frame: truth (H, W, K) bool, probs (H, W, K) float."""
        n_classes = self.positive.shape[0]
        size = self.positive.shape[1]
        flat = probs.reshape(-1, n_classes).astype(np.float32, copy=False)
        flat_truth = truth.reshape(-1, n_classes)
        for k in range(n_classes):
            # p >= grid[j] exactly for j < index (float32 on both sides, as the readers use)
            index = np.searchsorted(self.grid, flat[:, k], side="right")
            both = np.bincount(index + size * flat_truth[:, k], minlength=2 * size)
            self.negative[k] += both[:size]
            self.positive[k] += both[size:]

    def confusion(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tp, fp, fn) of class k at every grid value."""
        # pixels at or above grid[j]: the counts of index j+1 and higher
        tp = np.cumsum(self.positive[k][::-1])[::-1][1:]
        fp = np.cumsum(self.negative[k][::-1])[::-1][1:]
        fn = self.positive[k].sum() - tp
        return tp, fp, fn


def score(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, metric: str) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN) or IoU = TP / (TP + FP + FN); 0 where undefined."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    numerator = 2 * tp if metric == "f1" else tp
    denominator = numerator + fp + fn
    return np.divide(numerator, denominator, out=np.zeros_like(tp), where=denominator > 0)


def best_on_grid(values: np.ndarray, grid: np.ndarray = GRID) -> int:
    """Index of the highest value; ties: nearest DEFAULT, then the lower threshold."""
    top = values.max()
    ties = np.flatnonzero(values >= top)
    return int(min(ties, key=lambda j: (abs(float(grid[j]) - DEFAULT), j)))


def choose(counts: GridCounts, metric: str) -> tuple[list[float], ThresholdChoice]:
    """Per class the chosen threshold, and the card's record of the choice."""
    chosen, at_chosen, at_default, pixels = [], [], [], []
    default = int(np.argmin(np.abs(counts.grid - DEFAULT)))
    for k in range(counts.positive.shape[0]):
        tp, fp, fn = counts.confusion(k)
        values = score(tp, fp, fn, metric)
        positives = int(counts.positive[k].sum())
        j = best_on_grid(values, counts.grid) if positives else default
        chosen.append(round(float(counts.grid[j]), 2))
        at_chosen.append(round(float(values[j]), 6))
        at_default.append(round(float(values[default]), 6))
        pixels.append(positives)
    record = ThresholdChoice(
        metric=metric,
        split=SPLIT,
        grid=GRID_TEXT,
        scores=at_chosen,
        scores_at_default=at_default,
        pixels=pixels,
    )
    return chosen, record


def val_counts(
    cfg: Config, model: Any, root: Path, pairs: Sequence[Pair], channels: int, multiple: int
) -> GridCounts:
    """Step 1-2: predict the val pairs and pool their grid counts."""
    from stackseg.evaluate.io import iter_pairs
    from stackseg.predict import predict_frames
    from stackseg.preprocessing import to_model_input
    from stackseg.runtime import KerasBackend

    n_classes = len(cfg.classes)
    counts = GridCounts(n_classes)
    # same-size frames share batches; the order does not change pooled counts
    ordered = sorted(pairs, key=lambda pair: (pair.height, pair.width))
    truths: dict[str, np.ndarray] = {}

    def frames():
        for pair, image, mask in iter_pairs(root, ordered, channels, n_classes):
            truths[pair.name] = mask
            yield pair.name, image

    backend = KerasBackend(model)
    predictions = predict_frames(backend, frames(), to_model_input, multiple, cfg.train.batch_size)
    with progress(len(ordered), f"threshold ({SPLIT})", "frame") as bar:
        for name, _, probs in predictions:
            counts.add(truths.pop(name), probs)
            bar.update(1)
    return counts


def apply(cfg: Config, card: ModelCard, model: Any, data: PreparedData) -> ModelCard:
    """The card with auto thresholds chosen on val (the card unchanged for a fixed one)."""
    if cfg.train.threshold != "auto":
        return card
    metric = cfg.train.threshold_metric
    pairs = data.manifest.split_pairs(SPLIT)
    counts = val_counts(cfg, model, data.root, pairs, data.image_channels, card.input.size_multiple)
    thresholds, record = choose(counts, metric)
    for name, t, value, before, pixels in zip(
        card.classes,
        thresholds,
        record.scores,
        record.scores_at_default,
        record.pixels,
        strict=True,
    ):
        note = "" if pixels else " (no val pixels: 0.5 kept)"
        log.info(
            "threshold %s: %.2f, val %s %.4f (%.4f at 0.5)%s", name, t, metric, value, before, note
        )
    output = OutputContract.model_validate(
        {
            **card.output.model_dump(),
            "thresholds": thresholds,
            "threshold_rule": f"auto on val ({metric})",
            "threshold_choice": record.model_dump(),
        }
    )
    return card.model_copy(update={"output": output})
