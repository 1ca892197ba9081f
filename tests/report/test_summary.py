"""`stackseg summary`: the evaluate metrics as a few readable lines, or one error line."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from stackseg import cli
from tests.conftest import tiny_params

METRICS = {
    "frames": 48,
    "mean": {"iou": 0.9575, "dice": 0.9782, "precision": 0.97, "recall": 0.99},
    "per_class": {
        "disc": {"iou": 0.9684, "dice": 0.984, "precision": 0.9, "recall": 0.9},
        "ring": {"iou": 0.971, "dice": 0.9853, "precision": 0.9, "recall": 0.9},
        "streak": {"iou": 0.9332, "dice": 0.9654, "precision": 0.9, "recall": 0.9},
    },
    "pixel_accuracy": 0.9926,
    "mean_frame_iou": 0.95,
    "baseline": {
        "mean": {"iou": 0.0802, "dice": 0.1469},
        "per_class": {
            "disc": {"iou": 0.1222, "dice": 0.2178, "threshold": 146, "direction": "above"},
            "ring": {"iou": 0.0751, "dice": 0.1397, "threshold": 83, "direction": "above"},
            "streak": {"iou": 0.0433, "dice": 0.083, "threshold": 80, "direction": "above"},
        },
    },
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    params = tiny_params()
    params["paths"] = {
        **params["paths"],
        "evaluate_metrics": "out/scores.json",
        "evaluate_plots": "out/plots",
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_metrics(project, metrics: dict | str) -> None:
    (project / "out").mkdir(exist_ok=True)
    text = metrics if isinstance(metrics, str) else json.dumps(metrics)
    (project / "out/scores.json").write_text(text)


def summary(capsys) -> tuple[int, list[str], list[str]]:
    code = cli.main(["summary"])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_summary_compares_the_model_with_the_baseline_per_class(project, capsys):
    write_metrics(project, METRICS)
    (project / "out/plots/overlays").mkdir(parents=True)
    (project / "out/plots/per_class_iou.json").write_text("[]")
    code, out, err = summary(capsys)
    assert (code, err) == (0, [])
    assert out[0] == "Test results (48 test frames, out/scores.json):"
    assert out[1] == ("  mean IoU        0.9575  (baseline 0.0802: the model is +0.8773 better)")
    assert "  pixel accuracy  0.9926" in out
    rows = {line.split()[0]: line.split()[1:] for line in out if line.startswith("  ")}
    assert rows["class"] == ["IoU", "model", "baseline", "dice", "model", "baseline"]
    assert rows["ring"] == ["0.9710", "0.0751", "0.9853", "0.1397"]
    assert rows["mean"] == ["0.9575", "0.0802", "0.9782", "0.1469"]
    # the plots' directory from params, its contents, and how to look at them
    assert "Plots: out/plots/ (overlays/, per_class_iou.json)" in out
    assert any("dvc plots show" in line for line in out)
    assert any("dvc plots diff main --open" in line for line in out)
    assert len(out) <= 20  # short: the point of the command


def test_a_model_below_the_baseline_is_said_plainly(project, capsys):
    worse = copy.deepcopy(METRICS)
    worse["mean"]["iou"] = 0.05
    del worse["baseline"]["per_class"]["streak"]
    write_metrics(project, worse)
    code, out, _ = summary(capsys)
    assert code == 0
    assert "the model is NOT better (-0.0302)" in out[1]
    assert out[-4].endswith("(not there: run `dvc repro` (or `stackseg evaluate`) first)")
    streak = next(line for line in out if line.strip().startswith("streak"))
    assert streak.split()[1:] == ["0.9332", "—", "0.9654", "—"]


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        (None, "out/scores.json: not found: run `dvc repro` (or `stackseg evaluate`) first"),
        ("{", "out/scores.json: not valid JSON (Expecting property name"),
        ("[1]", "out/scores.json: expected a JSON object"),
        (
            {**METRICS, "mean": {"dice": 0.5}},
            "out/scores.json: mean.iou: missing or not a number",
        ),
        ({**METRICS, "per_class": {}}, "out/scores.json: per_class: missing or empty"),
    ],
)
def test_a_missing_or_broken_metrics_file_is_one_error_line(project, capsys, contents, problem):
    if contents is not None:
        write_metrics(project, contents)
    code, out, err = summary(capsys)
    assert code == 3
    assert out == []
    assert len(err) == 1
    assert err[0].startswith(f"stackseg summary: error: {problem}")
