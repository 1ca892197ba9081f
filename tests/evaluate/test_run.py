"""The evaluate pass end to end on a hand-made prepared split and a numpy stand-in model.

The data are built so every number is known: class "disc" is exactly the pixels >= 128 of
the decoded jpg (the stand-in model predicts probability = intensity / 255, so it is perfect
on disc), class "ring" is a rectangle in some frames that the model never predicts.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from stackseg.config import config_from_dict
from stackseg.errors import InputDataError
from stackseg.evaluate import outputs, run
from tests.conftest import tiny_params

CLASSES = ["disc", "ring"]
# (split, stack, frame, height, width, has_ring)
FRAMES = [
    ("test", "a", 0, 24, 40, True),
    ("test", "a", 1, 24, 40, False),
    ("test", "b", 0, 17, 29, True),
    ("test", "b", 1, 17, 29, False),
    ("train", "c", 0, 24, 40, True),
    ("train", "c", 1, 24, 40, False),
]


def write_prepared(root: Path, frames=FRAMES) -> Path:
    rng = np.random.default_rng(0)
    pairs = []
    for split, stack, frame, height, width, has_ring in frames:
        name = f"{stack}_f{frame:04d}"
        image_rel, mask_rel = f"{split}/images/{name}.jpg", f"{split}/masks/{name}.png"
        for rel in (image_rel, mask_rel):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / image_rel), rng.integers(0, 256, (height, width), dtype=np.uint8))
        decoded = cv2.imread(str(root / image_rel), cv2.IMREAD_GRAYSCALE)
        mask = np.zeros((height, width, 3), np.uint8)  # 2 classes -> RGB, unused channel 0
        mask[..., 0] = np.where(decoded >= 128, 255, 0)
        if has_ring:
            mask[3:9, 5:15, 1] = 255
        Image.fromarray(mask, "RGB").save(root / mask_rel)
        pairs.append(
            {
                "stack": stack,
                "frame": frame,
                "split": split,
                "image": image_rel,
                "mask": mask_rel,
                "height": height,
                "width": width,
            }
        )
    manifest = {"classes": CLASSES, "image_channels": 1, "pairs": pairs}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


class IntensityModel:
    """Channel 0 = the input intensity, channel 1 = 0: perfect on disc, blind to ring."""

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([batch[..., :1], np.zeros_like(batch[..., :1])], axis=-1)


def scale(batch: np.ndarray) -> np.ndarray:
    return batch.astype(np.float32) / 255.0


@pytest.fixture
def cfg(tmp_path):
    prepared = write_prepared(tmp_path / "prepared")
    params = tiny_params(
        classes=CLASSES,
        paths={
            "prepared": str(prepared),
            "evaluate_metrics": str(tmp_path / "metrics" / "evaluate.json"),
            "evaluate_plots": str(tmp_path / "plots" / "evaluate"),
        },
        evaluate={"overlays": 2, "batch_size": 3},
    )
    return config_from_dict(params)


def evaluate(cfg):
    results = run.score_test(cfg, IntensityModel(), scale, multiple=8)
    document = outputs.write_outputs(
        results, Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    )
    return results, document


def test_evaluate_json_layout_and_values(cfg):
    results, document = evaluate(cfg)
    written = json.loads(Path(cfg.paths.evaluate_metrics).read_text())
    assert written == document
    assert set(written) == {
        "frames",
        "mean",
        "per_class",
        "pixel_accuracy",
        "mean_frame_iou",
        "baseline",
    }
    assert written["frames"] == 4
    assert list(written["per_class"]) == CLASSES
    for scores in [written["mean"], *written["per_class"].values()]:
        assert set(scores) == {"iou", "dice", "precision", "recall"}
    assert written["per_class"]["disc"] == {
        "iou": 1.0,
        "dice": 1.0,
        "precision": 1.0,
        "recall": 1.0,
    }
    # ring is present in two test frames and never predicted
    assert written["per_class"]["ring"] == {
        "iou": 0.0,
        "dice": 0.0,
        "precision": 0.0,
        "recall": 0.0,
    }
    assert written["mean"]["iou"] == 0.5
    ring_pixels, all_pixels = 2 * 6 * 10, 2 * 24 * 40 + 2 * 17 * 29
    assert written["pixel_accuracy"] == pytest.approx(1 - ring_pixels / all_pixels, abs=1e-6)
    # frames without ring: disc perfect, ring empty in both -> 1.0; with ring: (1 + 0) / 2
    assert written["mean_frame_iou"] == 0.75
    base = written["baseline"]
    assert base["per_class"]["disc"]["direction"] == "above"
    assert base["per_class"]["disc"]["threshold"] == 128  # learned on train only
    assert base["per_class"]["disc"]["iou"] == 1.0
    assert 0.0 <= base["per_class"]["ring"]["iou"] < 1.0
    assert base["mean"]["iou"] == pytest.approx(
        np.mean([1.0, base["per_class"]["ring"]["iou"]]), abs=1e-6
    )


def test_plot_files(cfg):
    evaluate(cfg)
    plots = Path(cfg.paths.evaluate_plots)
    assert sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*") if p.is_file()) == [
        "confusion.csv",
        "overlays/best_01.png",
        "overlays/best_02.png",
        "overlays/worst_01.png",
        "overlays/worst_02.png",
        "per_class_iou.json",
        "pr/disc.json",
        "pr/ring.json",
    ]
    bars = json.loads((plots / "per_class_iou.json").read_text())
    assert {row["label"]: row["iou"] for row in bars}["disc (model)"] == 1.0
    assert [row["label"] for row in bars][:2] == ["disc (model)", "disc (baseline)"]

    with (plots / "confusion.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    cells: dict[tuple[str, str], int] = {}
    for row in rows:
        cells[row["actual"], row["predicted"]] = cells.get((row["actual"], row["predicted"]), 0) + 1
    # the model is right on disc and background and calls every ring pixel by its disc state
    assert cells[("background", "background")] == 100 and cells[("disc", "disc")] == 100
    assert cells[("ring", "background")] == 100 and cells[("disc+ring", "disc")] == 100
    assert len(rows) == 400

    pr = json.loads((plots / "pr" / "disc.json").read_text())
    at_half = next(row for row in pr if row["threshold"] == 0.5)
    assert at_half["precision"] == 1.0 and at_half["recall"] == 1.0
    assert pr[0]["threshold"] == 0.0 and pr[0]["recall"] == 1.0

    # best frames: no ring (IoU 1), names ascending; worst: with ring (IoU 0.5)
    assert [f.name for f in run.score_test(cfg, IntensityModel(), scale, 8).ranking.best] == [
        "a_f0001",
        "b_f0001",
    ]
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
    results = run.score_test(cfg, IntensityModel(), scale, multiple=8)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.overlays, "save_png", broken)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_outputs(results, metrics_path, plots)
    assert (metrics_path.read_bytes(), sorted(plots.rglob("*"))) == before
    leftovers = [p.name for p in [*metrics_path.parent.iterdir(), *plots.parent.iterdir()]]
    assert sorted(leftovers) == ["evaluate", "evaluate.json"]


def test_class_mismatch_and_empty_test_split_are_clear_errors(cfg, tmp_path):
    other = config_from_dict({**cfg.model_dump(), "classes": ["disc", "streak"]})
    with pytest.raises(InputDataError, match="differ from params classes"):
        run.score_test(other, IntensityModel(), scale, 8)
    no_test = write_prepared(tmp_path / "no-test", [f for f in FRAMES if f[0] == "train"])
    cfg_no_test = config_from_dict(
        {**cfg.model_dump(), "paths": {**cfg.paths.model_dump(), "prepared": str(no_test)}}
    )
    with pytest.raises(InputDataError, match="test split is empty"):
        run.score_test(cfg_no_test, IntensityModel(), scale, 8)


def test_unreadable_frame_names_the_file(cfg):
    broken = Path(cfg.paths.prepared) / "test" / "images" / "b_f0000.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(InputDataError, match="b_f0000.jpg"):
        run.score_test(cfg, IntensityModel(), scale, 8)


def test_throughput_report_separates_the_first_batch():
    pairs = [
        run.io.Pair(f"f{i}", "", "", h, w)
        for i, (h, w) in enumerate([(10, 10)] * 2 + [(20, 5)] * 3)
    ]
    timer = run.Throughput(pairs, batch_size=4)
    assert timer.first_batch == 2  # the first batch holds only the frames of the first size
    for _ in pairs:
        timer.frame_done()
    report = timer.report()
    assert report.startswith("evaluated 5 test frames (0.00 megapixels) in ")
    assert "frames/s" in report and "after the first batch" in report
