"""Object-level scores, pooled over frames.

Per frame and per threshold tau the matching (`matching.match`) gives TP (matched pairs),
FP = predicted objects left unmatched and FN = true objects left unmatched. Counts (and
the summed IoU of the matched pairs) are summed over every frame first and turned into
ratios once, as the pixel metrics of evaluate are: a frame with many objects weighs more
than one with few, and a frame without objects still counts its false positives.

- precision TP / (TP + FP), recall TP / (TP + FN), F1 2 TP / (2 TP + FP + FN), at
  `objects.match_iou`;
- mean_matched_iou: mean IoU of the matched pairs (the segmentation quality SQ);
- pq: panoptic quality SQ x RQ (Kirillov et al. 2019), where the recognition quality RQ
  is F1;
- ap_dsb: the 2018 Data Science Bowl score, the mean over tau in {0.5, 0.55, ..., 0.95}
  of TP / (TP + FP + FN). The Bowl averaged it per image and then over images; here the
  counts are pooled over frames first (as everything else), so empty frames do not count
  as perfect.
- splits and merges (`matching.splits_and_merges`) summed over frames.

Undefined ratios (0/0) follow evaluate's rule: 1.0 when there are neither true nor
predicted objects, 0.0 otherwise (e.g. mean IoU with no match).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stackseg.objects.matching import match, overlaps, splits_and_merges

# the F1-against-tau curve; tau >= 0.5 of it is the DSB threshold grid
TAUS = tuple(round(0.1 + 0.05 * i, 2) for i in range(18))  # 0.1, 0.15, ..., 0.95
DSB_TAUS = tuple(tau for tau in TAUS if tau >= 0.5)  # 0.5, 0.55, ..., 0.95


def _ratio(num: float, den: float, empty: bool) -> float:
    return num / den if den > 0 else (1.0 if empty else 0.0)


@dataclass
class ObjectCounts:
    """Object counts summed over frames, at every tau of `taus` (plus `match_iou`)."""

    match_iou: float
    taus: tuple[float, ...] = TAUS
    frames: int = 0
    n_true: int = 0
    n_pred: int = 0
    splits: int = 0
    merges: int = 0
    tp: dict[float, int] = field(default_factory=dict)
    iou_sum: dict[float, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tau in self.grid:
            self.tp.setdefault(tau, 0)
            self.iou_sum.setdefault(tau, 0.0)

    @property
    def grid(self) -> tuple[float, ...]:
        return tuple(sorted({*self.taus, *DSB_TAUS, self.match_iou}))

    def add(self, truth: np.ndarray, pred: np.ndarray) -> dict:
        """Add one frame's true ids and predicted labels; returns its matching at
        `match_iou` as {true, pred: matched indices, true_ids, pred_ids} for overlays."""
        ov = overlaps(truth, pred)
        self.frames += 1
        self.n_true += len(ov.true_ids)
        self.n_pred += len(ov.pred_ids)
        splits, merges = splits_and_merges(ov)
        self.splits += splits
        self.merges += merges
        chosen = None
        for tau in self.grid:
            found = match(ov, tau)
            self.tp[tau] += found.tp
            self.iou_sum[tau] += float(found.iou.sum())
            if tau == self.match_iou:
                chosen = found
        assert chosen is not None
        return {
            "true_ids": ov.true_ids,
            "pred_ids": ov.pred_ids,
            "matched_true": ov.true_ids[chosen.true_index],
            "matched_pred": ov.pred_ids[chosen.pred_index],
            "tp": chosen.tp,
        }

    def scores(self, tau: float) -> dict[str, float]:
        """precision, recall, f1, mean_matched_iou, pq and the raw counts at one tau."""
        tp = self.tp[tau]
        fp, fn = self.n_pred - tp, self.n_true - tp
        empty = self.n_true == 0 and self.n_pred == 0
        f1 = _ratio(2 * tp, 2 * tp + fp + fn, empty)
        sq = _ratio(self.iou_sum[tau], tp, empty)
        return {
            "precision": _ratio(tp, tp + fp, empty),
            "recall": _ratio(tp, tp + fn, empty),
            "f1": f1,
            "mean_matched_iou": sq,
            "pq": sq * f1,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }

    def ap_dsb(self) -> float:
        """Mean over DSB_TAUS of TP / (TP + FP + FN) (pooled counts)."""
        empty = self.n_true == 0 and self.n_pred == 0
        values = [
            _ratio(self.tp[tau], self.n_true + self.n_pred - self.tp[tau], empty)
            for tau in DSB_TAUS
        ]
        return float(np.mean(values))


def summarize(counts: ObjectCounts, digits: int = 6) -> dict:
    """The `objects` entry of metrics/evaluate.json (numbers `dvc metrics diff` compares)."""
    at = counts.scores(counts.match_iou)
    return {
        "match_iou": counts.match_iou,
        "precision": round(at["precision"], digits),
        "recall": round(at["recall"], digits),
        "f1": round(at["f1"], digits),
        "mean_matched_iou": round(at["mean_matched_iou"], digits),
        "pq": round(at["pq"], digits),
        "ap_dsb": round(counts.ap_dsb(), digits),
        "splits": counts.splits,
        "merges": counts.merges,
        "counts": {
            "frames": counts.frames,
            "true": counts.n_true,
            "predicted": counts.n_pred,
            "matched": at["tp"],
            "missed": at["fn"],
            "false": at["fp"],
        },
    }


def f1_rows(counts: ObjectCounts, digits: int = 6) -> list[dict]:
    """Plot rows {tau, f1, precision, recall} for every tau of the curve."""
    rows = []
    for tau in counts.taus:
        s = counts.scores(tau)
        rows.append(
            {
                "tau": tau,
                "f1": round(s["f1"], digits),
                "precision": round(s["precision"], digits),
                "recall": round(s["recall"], digits),
            }
        )
    return rows
