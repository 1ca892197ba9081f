"""How sure the headline figures are: 95% bootstrap intervals of the test IoUs.

The test split is a sample of stacks, and with a few stacks one hard stack more or less
moves the mean IoU by more than most changes a pull request makes. So evaluate also
reports, for the mean IoU and each class's IoU, the 2.5th and 97.5th percentiles over
`evaluate.bootstrap.resamples` bootstrap resamples of the test split:

1. Group the per-frame pixel counts (tp, fp, fn per class) by unit: by stack when the test
   split has at least `evaluate.bootstrap.min_stacks` stacks, by frame otherwise. Frames
   of one stack are alike (neighbouring slices, one sample), so resampling frames
   understates the spread; it is the fallback for splits with too few stacks to resample,
   and the document says which unit was used.
2. Draw units with replacement (as many as there are), sum their counts, score them as the
   pooled metrics are scored (`metrics.scores_from_counts`), many times over.
3. The interval is the percentile range of those scores.

The random draws come from the params' seed, so the interval is the same bytes run to run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stackseg.evaluate import metrics

LEVEL = 0.95


def unit_counts(
    frame_units: Sequence[str], frame_counts: Sequence[np.ndarray]
) -> tuple[list[str], np.ndarray]:
    """Sum per-frame (3, K) [tp, fp, fn] counts by unit -> (unit names, (U, 3, K))."""
    units = sorted(set(frame_units))
    index = {unit: i for i, unit in enumerate(units)}
    totals = np.zeros((len(units), *frame_counts[0].shape), dtype=np.int64)
    for unit, counts in zip(frame_units, frame_counts, strict=True):
        totals[index[unit]] += counts
    return units, totals


def bootstrap_iou(
    counts: np.ndarray, resamples: int, seed: int, chunk: int | None = None
) -> np.ndarray:
    """(resamples, K) per-class IoU of resampled unit sets; `counts` is (U, 3, K).

    Drawn `chunk` resamples at a time (default: about 2 million counts per chunk, so
    memory stays bounded for frame-level resampling of a large split); the chunking does
    not change the draws.
    """
    rng = np.random.default_rng(seed)
    n_units = counts.shape[0]
    scores = np.empty((resamples, counts.shape[2]), dtype=np.float64)
    step = chunk or max(1, 2_000_000 // (n_units * counts.shape[1] * counts.shape[2]))
    for start in range(0, resamples, step):
        stop = min(start + step, resamples)
        drawn = rng.integers(0, n_units, size=(stop - start, n_units))
        tp, fp, fn = counts[drawn].sum(axis=1).transpose(1, 0, 2)  # each (n, K)
        scores[start:stop] = metrics.scores_from_counts(tp, fp, fn)["iou"]
    return scores


def _range(values: np.ndarray, digits: int) -> dict[str, float]:
    tail = (1.0 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return {"low": round(float(low), digits), "high": round(float(high), digits)}


def intervals(
    classes: list[str],
    frame_stacks: Sequence[str],
    frame_names: Sequence[str],
    frame_counts: Sequence[np.ndarray],
    resamples: int,
    min_stacks: int,
    seed: int,
    digits: int = 6,
) -> dict:
    """The `interval` entry of evaluate.json (steps 1-3)."""
    by_stack = len(set(frame_stacks)) >= min_stacks
    units, counts = unit_counts(frame_stacks if by_stack else frame_names, frame_counts)
    scores = bootstrap_iou(counts, resamples, seed)
    return {
        "level": LEVEL,
        "unit": "stack" if by_stack else "frame",
        "units": len(units),
        "resamples": resamples,
        "mean_iou": _range(scores.mean(axis=1), digits),
        "per_class_iou": {name: _range(scores[:, k], digits) for k, name in enumerate(classes)},
    }
