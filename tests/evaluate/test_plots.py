"""Plot data: confusion rows per actual label, precision-recall rows, bar rows."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.evaluate import plots


def test_label_names_cover_overlaps_and_background():
    classes = ["disc", "ring", "streak"]
    assert plots.label_name(0, classes) == "background"
    assert plots.label_name(0b101, classes) == "disc+streak"


def test_confusion_rows_are_exact_percentages_summing_to_100():
    confusion = plots.LabelConfusion(1)
    # actual background: 3 pixels, all predicted background; actual class: 1/3 missed
    truth = np.array([[0, 0, 0, 1, 1, 1]], bool)[..., None]
    pred = np.array([[0, 0, 0, 1, 1, 0]], bool)[..., None]
    confusion.add(truth, pred)
    assert confusion.counts.tolist() == [[3, 0], [1, 2]]
    # 33.3 / 66.7 -> largest remainder gives the spare row to the larger fraction
    assert confusion.percent_rows().tolist() == [[100, 0], [33, 67]]
    lines = confusion.to_csv(["disc"]).splitlines()
    assert lines[0] == "actual,predicted" and len(lines) == 1 + 200
    assert lines.count("disc,background") == 33 and lines.count("disc,disc") == 67


def test_confusion_ties_are_broken_deterministically():
    confusion = plots.LabelConfusion(2)
    confusion.counts[0] = [1, 1, 1, 0]  # 33.33 each: one extra row, to the lowest code
    assert confusion.percent_rows()[0].tolist() == [34, 33, 33, 0]
    assert confusion.percent_rows()[1:].sum() == 0  # labels never seen get no rows


def test_precision_recall_rows():
    hist = plots.ProbabilityHistograms(1, bins=4)
    truth = np.array([1, 1, 0, 0], bool).reshape(1, 4, 1)
    probs = np.array([0.9, 0.3, 0.6, 0.1], np.float32).reshape(1, 4, 1)
    hist.add(truth, probs)
    rows = hist.curve(0)
    # thresholds 0, .25, .5, .75: predicted {all}, {.9,.3,.6}, {.9,.6}, {.9}
    assert [r["threshold"] for r in rows] == [0.0, 0.25, 0.5, 0.75]
    assert [r["precision"] for r in rows] == pytest.approx([0.5, 2 / 3, 0.5, 1.0], abs=1e-6)
    assert [r["recall"] for r in rows] == pytest.approx([1.0, 1.0, 0.5, 0.5])


def test_precision_recall_leaves_out_thresholds_with_no_prediction():
    hist = plots.ProbabilityHistograms(1, bins=10)
    hist.add(np.ones((1, 2, 1), bool), np.full((1, 2, 1), 0.15, np.float32))
    assert [r["threshold"] for r in hist.curve(0)] == [0.0, 0.1]


def test_iou_rows_pair_model_and_baseline():
    model = {"per_class": {"a": {"iou": 0.9}}, "mean": {"iou": 0.9}}
    base = {"per_class": {"a": {"iou": 0.2}}, "mean": {"iou": 0.2}}
    assert plots.iou_rows(model, base, ["a"]) == [
        {"label": "a (model)", "iou": 0.9},
        {"label": "a (baseline)", "iou": 0.2},
        {"label": "mean (model)", "iou": 0.9},
        {"label": "mean (baseline)", "iou": 0.2},
    ]


def test_safe_file_name():
    assert plots.safe_file_name("cell wall/1") == "cell_wall_1"
