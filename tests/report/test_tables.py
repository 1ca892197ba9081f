"""Markdown tables from `dvc params diff --json` / `dvc metrics diff --json` output."""

from __future__ import annotations

from stackseg.report.tables import (
    format_change,
    format_value,
    has_side,
    metrics_table,
    params_table,
)

METRICS = {
    "metrics/evaluate.json": {
        "mean_iou": {"old": 0.812345678, "new": 0.8311, "diff": 0.018754322},
        "iou.disc": {"old": None, "new": 0.9},
        "epochs_run": {"old": 50, "new": 40, "diff": -10},
    }
}


def test_values_are_formatted_for_reading():
    assert format_value(0.812345678) == "0.81235"
    assert format_value(3) == "3"
    assert format_value(None) == "—"
    assert format_value(True) == "true"
    assert format_value(["disc", "ring"]) == '["disc","ring"]'
    assert format_value(float("nan")) == "nan"
    assert format_change({"diff": 0.018754322}) == "+0.018754"
    assert format_change({"diff": -10}) == "-10"
    assert format_change({"diff": 0.0}) == "0"
    assert format_change({}) == ""
    assert format_change({"diff": True}) == ""


def test_metrics_table_rows_are_sorted_with_both_sides_and_change():
    lines = metrics_table(METRICS, "base `main`", "workspace")
    assert lines[0] == "| File | Metric | base `main` | workspace | Change |"
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2:] == [
        "| metrics/evaluate.json | epochs_run | 50 | 40 | -10 |",
        "| metrics/evaluate.json | iou.disc | — | 0.9 |  |",
        "| metrics/evaluate.json | mean_iou | 0.81235 | 0.8311 | +0.018754 |",
    ]


def test_unchanged_metrics_are_collapsed_below_the_changed_ones():
    diff = {
        "m.json": {
            "a": {"old": 1, "new": 2, "diff": 1},
            "b": {"old": 0.5, "new": 0.5, "diff": 0.0},
            "c": {"old": "x", "new": "x"},
        }
    }
    lines = metrics_table(diff, "base", "workspace")
    assert lines[2] == "| m.json | a | 1 | 2 | +1 |"
    assert lines[3:6] == ["", "<details><summary>2 unchanged metrics</summary>", ""]
    assert lines[8:10] == ["| m.json | b | 0.5 | 0.5 | 0 |", "| m.json | c | x | x |  |"]
    assert lines[-1] == "</details>"
    same_only = metrics_table({"m.json": {"b": {"old": 1, "new": 1}}}, "base", "workspace")
    assert same_only[0] == "_No metric changed._"
    assert "1 unchanged metric</summary>" in same_only[2]
    assert metrics_table({}, "base", "workspace") == []


def test_params_table_escapes_pipes_and_is_empty_without_changes():
    diff = {"params.yaml": {"train.loss": {"old": "bce", "new": "a|b"}}}
    assert (
        params_table(diff, "base", "workspace")[2] == "| params.yaml | train.loss | bce | a\\|b |"
    )
    assert params_table({}, "base", "workspace") == []
    assert params_table({"params.yaml": {}}, "base", "workspace") == []


def test_has_side_tells_whether_base_or_workspace_has_values():
    assert has_side(METRICS, "old") and has_side(METRICS, "new")
    only_new = {"m.json": {"a": {"old": None, "new": 1}}}
    assert not has_side(only_new, "old") and has_side(only_new, "new")
    assert not has_side({}, "new")
