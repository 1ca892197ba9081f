"""Data files behind the evaluate plots declared in dvc.yaml (`dvc plots show/diff`).

- per-class IoU of the model and the baseline side by side (bar chart rows);
- a pixel confusion matrix between label sets: each pixel's label is the set of classes it
  belongs to ("background" when none, "disc+ring" when classes overlap). One row per
  (actual, predicted) cell of every actual label that occurs, with its pooled pixel count
  and the percentage of that actual label's pixels; the project's own DVC template
  `.dvc/plots/confusion_percent.json` draws it as a heatmap;
- a precision-recall curve per class, from pooled 100-bin probability histograms
  (thresholds 0.00, 0.01, ..., 0.99; points where nothing is predicted are left out).
"""

from __future__ import annotations

import json
import re

import numpy as np

from stackseg.evaluate.metrics import joint_counts, scores_from_counts

CONFUSION_FILE = "confusion.json"
PERCENT_DIGITS = 2
PR_BINS = 100


def label_name(code: int, classes: list[str]) -> str:
    names = [name for k, name in enumerate(classes) if code >> k & 1]
    return "+".join(names) if names else "background"


class LabelConfusion:
    """Pooled pixel counts of (actual label set, predicted label set)."""

    def __init__(self, n_classes: int):
        self.n_codes = 1 << n_classes
        self.counts = np.zeros((self.n_codes, self.n_codes), dtype=np.int64)

    def add(self, truth: np.ndarray, pred: np.ndarray) -> None:
        self.add_joint(joint_counts(truth, pred))

    def add_joint(self, joint: np.ndarray) -> None:
        self.counts += joint

    def cells(self, classes: list[str]) -> list[dict]:
        """{actual, predicted, pixels, percent} for every predicted label of each actual
        label that occurs; percent = share of the actual label's pixels (rows sum to ~100)."""
        rows = []
        for actual, row in enumerate(self.counts):
            total = int(row.sum())
            if total == 0:
                continue
            for predicted, count in enumerate(row):
                rows.append(
                    {
                        "actual": label_name(actual, classes),
                        "predicted": label_name(predicted, classes),
                        "pixels": int(count),
                        "percent": round(100 * int(count) / total, PERCENT_DIGITS),
                    }
                )
        return rows


class ProbabilityHistograms:
    """Per-class histograms of predicted probability for positive and negative pixels."""

    def __init__(self, n_classes: int, bins: int = PR_BINS):
        self.bins = bins
        self.positive = np.zeros((n_classes, bins), dtype=np.int64)
        self.negative = np.zeros((n_classes, bins), dtype=np.int64)

    def add(self, truth: np.ndarray, probs: np.ndarray) -> None:
        n_classes = self.positive.shape[0]
        binned = np.clip(
            (probs.reshape(-1, n_classes) * self.bins).astype(np.int64), 0, self.bins - 1
        )
        truth = truth.reshape(-1, n_classes)
        for k in range(n_classes):
            both = np.bincount(binned[:, k] + self.bins * truth[:, k], minlength=2 * self.bins)
            self.negative[k] += both[: self.bins]
            self.positive[k] += both[self.bins :]

    def curve(self, k: int, digits: int = 6) -> list[dict]:
        """Rows {threshold, precision, recall} for thresholds i / bins, prob >= threshold."""
        tp = np.cumsum(self.positive[k][::-1])[::-1]
        fp = np.cumsum(self.negative[k][::-1])[::-1]
        fn = self.positive[k].sum() - tp
        scores = scores_from_counts(tp, fp, fn)
        return [
            {
                "threshold": round(i / self.bins, 4),
                "precision": round(float(scores["precision"][i]), digits),
                "recall": round(float(scores["recall"][i]), digits),
            }
            for i in range(self.bins)
            if tp[i] + fp[i] > 0
        ]


def iou_rows(model: dict, baseline: dict, classes: list[str]) -> list[dict]:
    """Bar-chart rows: model and baseline IoU of each class, then of their means."""
    rows = []
    for name in classes:
        rows.append({"label": f"{name} (model)", "iou": model["per_class"][name]["iou"]})
        rows.append({"label": f"{name} (baseline)", "iou": baseline["per_class"][name]["iou"]})
    rows.append({"label": "mean (model)", "iou": model["mean"]["iou"]})
    rows.append({"label": "mean (baseline)", "iou": baseline["mean"]["iou"]})
    return rows


def safe_file_name(name: str) -> str:
    """A class name usable as a file name on every OS."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def to_json(data) -> str:
    return json.dumps(data, indent=2) + "\n"
