"""The evaluate pass (steps 2-3 of evaluate.stage) on the stand-in split and model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stackseg.config import config_from_dict
from stackseg.contracts import read_manifest
from stackseg.errors import InputDataError
from stackseg.evaluate import outputs, stage
from tests.evaluate.standin import (
    FRAMES,
    MULTIPLE,
    THRESHOLD,
    IntensityModel,
    scale,
    write_prepared,
)
from tests.evaluate.test_e2e import METRIC_KEYS


def score(cfg, threshold: float = THRESHOLD):
    manifest = read_manifest(cfg.paths.prepared, cfg.classes)
    return stage.score_test(cfg, manifest, IntensityModel(), scale, MULTIPLE, threshold)


def evaluate(cfg) -> dict:
    return outputs.write_outputs(
        score(cfg), Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    )


def test_stage_import_stays_light():
    code = (
        "import sys, stackseg.commands.evaluate, stackseg.evaluate.stage; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_evaluate_json_layout_and_values(cfg):
    document = evaluate(cfg)
    written = json.loads(Path(cfg.paths.evaluate_metrics).read_text())
    assert written == document
    assert set(written) == METRIC_KEYS
    assert written["frames"] == 4
    interval = written["interval"]
    assert interval["resamples"] == cfg.evaluate.bootstrap.resamples and interval["level"] == 0.95
    assert interval["units"] == (4 if interval["unit"] == "frame" else 2)
    assert interval["per_class_iou"]["disc"] == {"low": 1.0, "high": 1.0}  # right in every frame
    assert interval["mean_iou"]["low"] <= written["mean"]["iou"] <= interval["mean_iou"]["high"]
    assert list(written["per_class"]) == ["disc", "ring"]
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


def test_the_threshold_passed_in_is_the_one_applied(cfg):
    """The stage passes the model card's output.threshold: above every probability,
    nothing is predicted, so disc (present in every frame) scores 0."""
    assert score(cfg).counts.tp[0] > 0
    counts = score(cfg, threshold=1.01).counts
    assert counts.tp.tolist() == [0, 0] and counts.fp.tolist() == [0, 0]


def test_each_class_is_cut_at_its_own_threshold(cfg):
    """The card's per-class thresholds (train.threshold auto): disc at 1.01 predicts
    nothing while ring at 0.0 predicts every pixel, and the other way round."""
    pixels = sum(h * w for split, _, _, h, w, _ in FRAMES if split == "test")
    default = score(cfg).counts
    counts = score(cfg, threshold=np.array([1.01, 0.0], np.float32)).counts
    assert counts.tp[0] == counts.fp[0] == 0
    assert counts.tp[1] + counts.fp[1] == pixels
    counts = score(cfg, threshold=np.array([THRESHOLD, 1.01], np.float32)).counts
    assert (counts.tp[0], counts.fp[0]) == (default.tp[0], default.fp[0])
    assert counts.tp[1] == counts.fp[1] == 0


def test_ranking_keeps_best_and_worst_frames(cfg):
    ranking = score(cfg).ranking
    # best frames: no ring (IoU 1), names ascending; worst: with ring (IoU 0.5)
    assert [f.name for f in ranking.best] == ["a_f0001", "b_f0001"]
    assert [f.name for f in ranking.worst] == ["a_f0000", "b_f0000"]
    assert [f.iou for f in ranking.worst] == [0.5, 0.5]


def test_empty_test_or_train_split_is_a_clear_error(cfg, tmp_path):
    for missing in ("test", "train"):
        root = write_prepared(tmp_path / f"no-{missing}", [f for f in FRAMES if f[0] != missing])
        other = config_from_dict(
            {**cfg.model_dump(), "paths": {**cfg.paths.model_dump(), "prepared": str(root)}}
        )
        with pytest.raises(InputDataError, match=f"the {missing} split is empty") as info:
            score(other)
        assert info.value.problems[0].startswith(str(root / "manifest.json"))


def test_unreadable_frame_names_the_file(cfg):
    broken = Path(cfg.paths.prepared) / "test" / "images" / "b_f0000.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(InputDataError, match="b_f0000.jpg"):
        score(cfg)


def test_mask_with_the_wrong_channel_count_names_the_file(cfg):
    from PIL import Image

    mask = Path(cfg.paths.prepared) / "test" / "masks" / "a_f0000.png"
    Image.new("L", (40, 24)).save(mask)  # 2 classes are stored as RGB
    with pytest.raises(
        InputDataError, match=r"a_f0000.png: 1 channel\(s\), a mask of 2 classes has 3"
    ):
        score(cfg)
