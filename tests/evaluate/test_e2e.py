"""A real `dvc repro` through evaluate on the tiny profile (the session's `pipeline`
fixture, tests/pipeline.py), then DVC's metrics and plots views."""

from __future__ import annotations

import json

import pytest

from stackseg.contracts import read_manifest
from tests.conftest import run
from tests.pipeline import copy_pipeline

METRIC_KEYS = {
    "frames",
    "mean",
    "per_class",
    "pixel_accuracy",
    "mean_frame_iou",
    "baseline",
    "interval",
}


@pytest.mark.slow
def test_repro_through_evaluate_metrics_and_plots(pipeline, tmp_path):
    # `dvc repro` of every stage, evaluate included, on the tiny profile (tests/pipeline.py)
    project = copy_pipeline(pipeline, tmp_path / "proj")

    classes = ["disc", "ring", "streak"]
    document = json.loads((project / "metrics" / "evaluate.json").read_text())
    assert set(document) == METRIC_KEYS
    manifest = read_manifest(project / "data" / "prepared", classes)
    assert document["frames"] == len(manifest.split_pairs("test")) > 0
    assert list(document["per_class"]) == classes == list(document["baseline"]["per_class"])
    for value in [
        *document["mean"].values(),
        document["pixel_accuracy"],
        document["mean_frame_iou"],
    ]:
        assert 0.0 <= value <= 1.0
    interval = document["interval"]  # the tiny profile's test split: too few stacks
    assert (interval["unit"], interval["units"]) == ("frame", document["frames"])
    assert interval["mean_iou"]["low"] <= document["mean"]["iou"] <= interval["mean_iou"]["high"]

    plots = project / "plots" / "evaluate"
    for name in (
        "per_class_iou.json",
        "confusion.json",
        "overlays/best_01.png",
        "overlays/worst_01.png",
    ):
        assert (plots / name).is_file(), name
    assert sorted(p.name for p in (plots / "pr").iterdir()) == [f"{c}.json" for c in classes]

    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    metrics = shown[""]["data"]["metrics/evaluate.json"]["data"]
    assert metrics["mean"] == document["mean"]

    rendered = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    # every stage ran: no plot is missing
    assert rendered.get("errors", []) == [], rendered["errors"]
    data = rendered["data"]
    for plot_id in (
        "Loss",
        "IoU",
        "plots/evaluate/per_class_iou.json",
        "plots/evaluate/confusion.json",
    ):
        assert data[plot_id], plot_id
        (vega,) = data[plot_id]
        assert vega["type"] == "vega" and vega["content"]["data"]["values"], plot_id
    # the confusion heatmap comes from .dvc/plots/confusion_percent.json: one row per cell
    confusion = data["plots/evaluate/confusion.json"][0]["content"]
    assert confusion["spec"]["layer"][0]["encoding"]["color"]["field"] == "percent"
    cells = confusion["data"]["values"]
    assert {"actual", "predicted", "pixels", "percent"} <= set(cells[0])
    for actual in {cell["actual"] for cell in cells}:
        row = [cell["percent"] for cell in cells if cell["actual"] == actual]
        assert sum(row) == pytest.approx(100, abs=0.05), actual
    for name in classes:
        assert data[f"plots/evaluate/pr/{name}.json"][0]["type"] == "vega"
    for name in ("best_01", "worst_01"):
        (image,) = data[f"plots/evaluate/overlays/{name}.png"]
        assert image["type"] == "image"

    # evaluate's outputs are byte-stable: forcing it again leaves dvc.lock as it was
    lock = (project / "dvc.lock").read_text()
    run(["dvc", "repro", "-f", "-s", "evaluate"], project, timeout=600)
    assert (project / "dvc.lock").read_text() == lock
    assert "up to date" in run(["dvc", "status", "evaluate"], project).stdout
