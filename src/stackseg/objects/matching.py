"""Matching true and predicted objects of one frame by IoU.

Overlaps come from contingency counts: one `np.unique` over the (true id, predicted id)
pairs of the pixels where either image has an object, so the cost grows with the pixels
and the overlapping pairs, never with N x M masks. Ids are any non-negative integers
(0 = background) and need not be sequential.

Matching at a threshold tau is one-to-one: a true and a predicted object can match only if
their IoU is above tau (strictly, as in the 2018 Data Science Bowl), and among those
candidates the matching is optimal: `scipy.optimize.linear_sum_assignment` maximises the
number of matches first and their summed IoU second. For tau >= 0.5 the candidates
already are a matching (two objects that each overlap a third by IoU > 0.5 would each
cover more than half of it), so the optimal matching equals the greedy one and every
candidate pair is matched; the assignment only decides something below 0.5.

Splits and merges (independent of tau): a predicted object is *inside* a true object when
more than half of its pixels are in it (so it is inside at most one); a true object is
*split* when two or more predicted objects are inside it. Symmetrically a true object is
inside a predicted one when more than half of its pixels are in it, and a predicted object
is a *merge* when two or more true objects are inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

INSIDE_FRACTION = 0.5  # more than this share of an object's pixels: it is inside the other


@dataclass(frozen=True)
class Overlaps:
    """The overlapping (true, predicted) pairs of one frame and every object's area."""

    true_ids: np.ndarray  # (N,) ids of the true objects
    pred_ids: np.ndarray  # (M,) ids of the predicted objects
    true_area: np.ndarray  # (N,) pixels
    pred_area: np.ndarray  # (M,)
    rows: np.ndarray  # (P,) index into true_ids of each overlapping pair
    cols: np.ndarray  # (P,) index into pred_ids
    intersection: np.ndarray  # (P,) pixels in both

    @property
    def iou(self) -> np.ndarray:
        """(P,) IoU of each overlapping pair."""
        union = self.true_area[self.rows] + self.pred_area[self.cols] - self.intersection
        return self.intersection / union

    def dense_iou(self) -> np.ndarray:
        """(N, M) IoU matrix, 0 where objects do not overlap (for tests and small frames)."""
        out = np.zeros((len(self.true_ids), len(self.pred_ids)))
        out[self.rows, self.cols] = self.iou
        return out


def _areas(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids, area = np.unique(labels[labels > 0], return_counts=True)
    return ids, area.astype(np.int64)


def overlaps(truth: np.ndarray, pred: np.ndarray) -> Overlaps:
    """Contingency counts of two (H, W) label images (0 = background)."""
    if truth.shape != pred.shape:
        raise ValueError(f"true ids {truth.shape} and predicted labels {pred.shape} differ")
    true_ids, true_area = _areas(truth)
    pred_ids, pred_area = _areas(pred)
    both = (truth > 0) & (pred > 0)
    # each pixel's pair of object indices as one integer key: a 1-D unique (a sort) counts
    # every overlapping pair at once
    rows = np.searchsorted(true_ids, truth[both])
    cols = np.searchsorted(pred_ids, pred[both])
    keys, counts = np.unique(rows.astype(np.int64) * len(pred_ids) + cols, return_counts=True)
    return Overlaps(
        true_ids,
        pred_ids,
        true_area,
        pred_area,
        keys // max(len(pred_ids), 1),
        keys % max(len(pred_ids), 1),
        counts.astype(np.int64),
    )


@dataclass(frozen=True)
class Matches:
    """A one-to-one matching at one tau: indices into true_ids / pred_ids and their IoU."""

    tau: float
    true_index: np.ndarray
    pred_index: np.ndarray
    iou: np.ndarray

    @property
    def tp(self) -> int:
        return len(self.iou)


def match(ov: Overlaps, tau: float) -> Matches:
    """The optimal one-to-one matching among the pairs with IoU > tau."""
    iou = ov.iou
    keep = iou > tau
    rows, cols, values = ov.rows[keep], ov.cols[keep], iou[keep]
    if tau < INSIDE_FRACTION and len(values):
        # candidates may share objects: solve on the rows and columns that have any
        r_ids, r = np.unique(rows, return_inverse=True)
        c_ids, c = np.unique(cols, return_inverse=True)
        # a match is worth more than any total of IoUs (each <= 1), so the number of
        # matches is maximised first and the summed IoU second
        weight = np.zeros((len(r_ids), len(c_ids)))
        weight[r, c] = min(len(r_ids), len(c_ids)) + 1 + values
        chosen_r, chosen_c = linear_sum_assignment(weight, maximize=True)
        real = weight[chosen_r, chosen_c] > 0
        chosen_r, chosen_c = chosen_r[real], chosen_c[real]
        values = weight[chosen_r, chosen_c] - min(len(r_ids), len(c_ids)) - 1
        rows, cols = r_ids[chosen_r], c_ids[chosen_c]
    order = np.lexsort((cols, rows))
    return Matches(tau, rows[order], cols[order], values[order])


def splits_and_merges(ov: Overlaps) -> tuple[int, int]:
    """(true objects split into 2+ predicted ones, predicted objects merging 2+ true ones)."""
    pred_inside = ov.intersection > INSIDE_FRACTION * ov.pred_area[ov.cols]
    true_inside = ov.intersection > INSIDE_FRACTION * ov.true_area[ov.rows]
    pieces = np.bincount(ov.rows[pred_inside], minlength=len(ov.true_ids))
    merged = np.bincount(ov.cols[true_inside], minlength=len(ov.pred_ids))
    return int((pieces >= 2).sum()), int((merged >= 2).sum())
