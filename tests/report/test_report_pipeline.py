"""`stackseg report` on the real pipeline (tiny profile): two commits whose params differ.

The base is the session's repro'd tiny project (the `pipeline` fixture, tests/pipeline.py)."""

from __future__ import annotations

import json
import subprocess

import pytest
from PIL import Image

from stackseg.report.markdown import budget_for, published_length
from stackseg.report.tables import format_value
from tests.conftest import run, tiny_params
from tests.pipeline import copy_pipeline
from tests.report.standin import IMAGE_LINK, set_params, table_rows


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}, the keys `dvc metrics diff` shows."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@pytest.mark.slow
def test_report_compares_two_real_pipeline_runs(pipeline, tmp_path):
    # the base: the tiny profile's results, committed (tests/pipeline.py)
    path = copy_pipeline(pipeline, tmp_path / "proj")
    base = run(["git", "rev-parse", "HEAD"], path).stdout.strip()
    old_lr = tiny_params()["train"]["learning_rate"]
    set_params(path, learning_rate=old_lr * 2)
    run(["dvc", "repro", "-q"], path)

    run(["stackseg", "report", "--base", base, "--text-out", "report-text.md"], path)
    text = (path / "report.md").read_text()

    metrics_file = "metrics/evaluate.json"
    committed = subprocess.run(
        ["git", "show", f"{base}:{metrics_file}"], cwd=path, capture_output=True, check=True
    ).stdout
    old = flatten(json.loads(committed))
    new = flatten(json.loads((path / metrics_file).read_text()))
    rows = table_rows(text, metrics_file)
    assert set(rows) == set(new)
    for key, value in new.items():
        assert rows[key][:2] == [format_value(old.get(key)), format_value(value)], key
    assert table_rows(text, "params.yaml") == {
        "train.learning_rate": [format_value(old_lr), format_value(old_lr * 2)]
    }

    links = IMAGE_LINK.findall(text)
    for link in links:
        with Image.open(path / link) as image:
            image.verify()
    # training curves and evaluate plots (vega) and the overlays (images), for both sides
    assert any("loss" in link.lower() for link in links)
    for rank in ("best-01", "worst-01"):
        assert {
            side for link in links if rank in link for side in (".base.", ".pr.") if side in link
        } == {
            ".base.",
            ".pr.",
        }
    assert published_length(text) <= budget_for(65_536)
    assert "![" not in (path / "report-text.md").read_text()

    # headline first (no noise estimate in a fresh project); dvclive's one-plot-per-file
    # curves collapsed, the combined Loss and IoU charts (both revisions each) above them
    assert text.index("### Headline metrics") < text.index("### Metrics")
    assert "| test mean IoU |" in text and "no noise estimate" in text
    shown, collapsed = text.split("<details><summary>Training curves", 1)
    collapsed = collapsed.split("</details>", 1)[0]
    assert "**Loss**<br>" in shown and "**IoU**<br>" in shown
    for name in tiny_params()["classes"]:
        assert f"iou_{name}.tsv" in collapsed and f"iou_{name}.tsv" not in shown
