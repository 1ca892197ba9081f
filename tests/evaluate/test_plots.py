"""Plot data: confusion cells per (actual, predicted) label, precision-recall rows, bar rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stackseg.evaluate import plots


def test_label_names_cover_overlaps_and_background():
    classes = ["disc", "ring", "streak"]
    assert plots.label_name(0, classes) == "background"
    assert plots.label_name(0b101, classes) == "disc+streak"


def test_confusion_cells_hold_counts_and_percent_of_the_actual_label():
    confusion = plots.LabelConfusion(1)
    # actual background: 3 pixels, all predicted background; actual class: 1/3 missed
    truth = np.array([[0, 0, 0, 1, 1, 1]], bool)[..., None]
    pred = np.array([[0, 0, 0, 1, 1, 0]], bool)[..., None]
    confusion.add(truth, pred)
    assert confusion.counts.tolist() == [[3, 0], [1, 2]]
    assert confusion.cells(["disc"]) == [
        {"actual": "background", "predicted": "background", "pixels": 3, "percent": 100.0},
        {"actual": "background", "predicted": "disc", "pixels": 0, "percent": 0.0},
        {"actual": "disc", "predicted": "background", "pixels": 1, "percent": 33.33},
        {"actual": "disc", "predicted": "disc", "pixels": 2, "percent": 66.67},
    ]


def test_confusion_cells_leave_out_labels_that_never_occur():
    confusion = plots.LabelConfusion(2)
    confusion.counts[0] = [1, 1, 1, 0]
    cells = confusion.cells(["a", "b"])
    # only actual "background" occurs: one row per predicted label, all four of them
    assert {c["actual"] for c in cells} == {"background"}
    assert [c["predicted"] for c in cells] == ["background", "a", "b", "a+b"]
    assert [c["percent"] for c in cells] == [33.33, 33.33, 33.33, 0.0]


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


def test_dvc_template_draws_the_confusion_cells_as_a_heatmap():
    """DVC fills the project's template (.dvc/plots) with the cells; Vega renders it."""
    from dvc_render import VegaRenderer

    from stackseg.report.vega import render_png

    root = Path(__file__).resolve().parents[2]
    confusion = plots.LabelConfusion(1)
    confusion.add(np.array([[0, 1, 1]], bool)[..., None], np.array([[0, 1, 0]], bool)[..., None])
    rows = [{**cell, "rev": "workspace"} for cell in confusion.cells(["disc"])]
    renderer = VegaRenderer(
        rows,
        "plots/evaluate/confusion.json",
        template="confusion_percent",
        template_dir=str(root / ".dvc" / "plots"),
        x="predicted",
        y="actual",
        title="confusion",
    )
    spec = renderer.get_filled_template()
    assert spec["data"]["values"] == rows
    layers = spec["spec"]["layer"]
    assert layers[0]["encoding"]["color"]["field"] == "percent"
    assert spec["spec"]["encoding"]["x"]["field"] == "predicted"
    assert spec["spec"]["encoding"]["y"]["field"] == "actual"
    assert render_png(spec).startswith(b"\x89PNG")
