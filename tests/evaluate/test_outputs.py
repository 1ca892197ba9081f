"""metrics/evaluate.json and plots/evaluate as written by evaluate.outputs (all or nothing)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from PIL import Image

from stackseg.evaluate import outputs
from tests.evaluate.test_stage import evaluate, score


def test_plot_files(cfg):
    evaluate(cfg)
    plots = Path(cfg.paths.evaluate_plots)
    assert sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*") if p.is_file()) == [
        "confusion.json",
        "objects_f1.json",
        "overlays/best_01.png",
        "overlays/best_02.png",
        "overlays/worst_01.png",
        "overlays/worst_02.png",
        "per_class_iou.json",
        "pr/disc.json",
        "pr/ring.json",
    ]
    # no object ids in these data: the F1 curve is empty (declared in dvc.yaml, so present)
    assert (plots / "objects_f1.json").read_text() == "[]\n"
    bars = json.loads((plots / "per_class_iou.json").read_text())
    assert {row["label"]: row["iou"] for row in bars}["disc (model)"] == 1.0
    assert [row["label"] for row in bars][:2] == ["disc (model)", "disc (baseline)"]

    cells = json.loads((plots / "confusion.json").read_text())
    # 4 actual labels occur (background, disc, ring, disc+ring), each with 4 predicted cells
    assert len(cells) == 16
    percent = {(c["actual"], c["predicted"]): c["percent"] for c in cells}
    # the model is right on disc and background and calls every ring pixel by its disc state
    assert percent["background", "background"] == 100.0 and percent["disc", "disc"] == 100.0
    assert percent["ring", "background"] == 100.0 and percent["disc+ring", "disc"] == 100.0
    ring_pixels = sum(c["pixels"] for c in cells if c["actual"] in ("ring", "disc+ring"))
    assert ring_pixels == 2 * 6 * 10

    pr = json.loads((plots / "pr" / "disc.json").read_text())
    at_half = next(row for row in pr if row["threshold"] == 0.5)
    assert at_half["precision"] == 1.0 and at_half["recall"] == 1.0
    assert pr[0]["threshold"] == 0.0 and pr[0]["recall"] == 1.0
    with Image.open(plots / "overlays" / "worst_02.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1]


def test_outputs_get_ordinary_permissions(cfg):
    evaluate(cfg)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(Path(cfg.paths.evaluate_metrics).stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(Path(cfg.paths.evaluate_plots).stat().st_mode) == 0o777 & ~umask


def test_outputs_are_stable_across_runs(cfg):
    evaluate(cfg)
    plots = Path(cfg.paths.evaluate_plots)
    first = {p: p.read_bytes() for p in plots.rglob("*") if p.is_file()}
    first_metrics = Path(cfg.paths.evaluate_metrics).read_bytes()
    evaluate(cfg)
    assert {p: p.read_bytes() for p in plots.rglob("*") if p.is_file()} == first
    assert Path(cfg.paths.evaluate_metrics).read_bytes() == first_metrics


def test_failure_while_writing_leaves_previous_outputs_untouched(cfg, monkeypatch):
    evaluate(cfg)
    metrics_path, plots = Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    before = metrics_path.read_bytes(), sorted(plots.rglob("*"))
    results = score(cfg)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.overlays, "save_png", broken)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_outputs(results, metrics_path, plots)
    assert (metrics_path.read_bytes(), sorted(plots.rglob("*"))) == before
    leftovers = [p.name for p in [*metrics_path.parent.iterdir(), *plots.parent.iterdir()]]
    assert sorted(leftovers) == ["evaluate", "evaluate.json"]


def test_first_run_failure_leaves_nothing(cfg, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.overlays, "save_png", broken)
    metrics_path, plots = Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_outputs(score(cfg), metrics_path, plots)
    assert list(metrics_path.parent.iterdir()) == [] and list(plots.parent.iterdir()) == []
