"""`stackseg report` on a real git + DVC project with stand-in stages (fast, no TensorFlow).

Commits: c0 = project without results (no dvc.lock), c1 = results for params A;
workspace = results for params B (learning rate and epochs changed), not committed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from stackseg.report.markdown import budget_for, published_length
from stackseg.report.noise import LOCAL_DIR, NoiseEstimate
from stackseg.report.tables import format_change, format_value
from tests.conftest import run
from tests.report.standin import (
    IMAGE_LINK,
    commit_all,
    expected_metrics,
    make_standin,
    set_params,
    table_rows,
)


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> dict:
    path = make_standin(tmp_path_factory.mktemp("standin") / "proj")
    params_a = set_params(path, learning_rate=0.002, epochs=2)
    c0 = commit_all(path, "project, no results yet")
    # before any `dvc repro`: the workspace has nothing to report
    no_results = run(["stackseg", "report", "--base", c0, "--no-images"], path, check=False)
    run(["dvc", "repro", "-q"], path)
    c1 = commit_all(path, "results for params A")
    params_b = set_params(path, learning_rate=0.004, epochs=3)
    run(["dvc", "repro", "-q"], path)
    written = run(["stackseg", "report", "--base", c1], path)
    return {
        "path": path,
        "c0": c0,
        "c1": c1,
        "a": params_a,
        "b": params_b,
        "no_results": no_results,
        "written": written,
    }


def report(path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["stackseg", "report", *args], path, check=check)


def test_metrics_and_params_tables_hold_base_and_workspace_values(standin):
    text = (standin["path"] / "report.md").read_text()
    old, new = expected_metrics(standin["a"]), expected_metrics(standin["b"])
    rows = table_rows(text, "metrics/evaluate.json")
    assert set(rows) == set(old)
    for key in old:
        change = format_change({"diff": new[key] - old[key]})
        assert rows[key] == [format_value(old[key]), format_value(new[key]), change], key
    assert table_rows(text, "metrics/train/metrics.json")["step"] == ["1", "2", "+1"]
    params = table_rows(text, "params.yaml")
    assert params == {"train.epochs": ["2", "3"], "train.learning_rate": ["0.002", "0.004"]}


def test_rendering_shows_plain_progress_lines_in_a_captured_log(standin):
    lines = standin["written"].stderr.splitlines()
    done = [line for line in lines if line.startswith("report: ") and " plots (" in line]
    assert done, standin["written"].stderr
    # the last line: every Vega plot of both sides rendered (the stand-in has several)
    assert re.fullmatch(r"report: (\d+)/\1 plots \(100%\), [\d.]+ s", done[-1]), done
    assert int(done[-1].split()[1].split("/")[0]) >= 4
    assert "\r" not in standin["written"].stderr  # no bar redrawn in a log


def test_every_image_exists_is_valid_and_comes_from_its_revision(standin):
    path = standin["path"]
    text = (path / "report.md").read_text()
    links = IMAGE_LINK.findall(text)
    # Loss and per-class IoU (vega) + best/worst overlays (images), each base and workspace
    assert len(links) == 8
    for link in links:
        assert not Path(link).is_absolute() and link.startswith("report/")
        with Image.open(path / link) as image:
            image.verify()
    base_best = next(link for link in links if "best-01" in link and ".base." in link)
    base_bytes = subprocess.run(
        ["git", "show", f"{standin['c1']}:plots/evaluate/overlays/best_01.png"],
        cwd=path,
        capture_output=True,
        check=True,
    ).stdout
    assert (path / base_best).read_bytes() == base_bytes
    pr_best = base_best.replace(".base.", ".pr.")
    assert (path / pr_best).read_bytes() == (
        path / "plots/evaluate/overlays/best_01.png"
    ).read_bytes()
    assert published_length(text) <= budget_for(65_536)


def test_unknown_base_is_one_clear_line_and_writes_nothing(standin):
    path = standin["path"]
    proc = report(path, "--base", "no-such-branch", "--out", "unknown.md", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("stackseg report: error: base revision 'no-such-branch' not found")
    assert "Traceback" not in proc.stderr
    assert not (path / "unknown.md").exists()


def test_base_without_results_gives_workspace_only_report_with_note(standin):
    path = standin["path"]
    report(path, "--base", standin["c0"], "--out", "first.md", "--images-dir", "first")
    text = (path / "first.md").read_text()
    assert "has no dvc.lock" in text
    rows = table_rows(text, "metrics/evaluate.json")
    new = expected_metrics(standin["b"])
    assert rows["mean.iou"][:2] == ["—", format_value(new["mean.iou"])]
    assert "— (not available)" in text  # base side of every image plot
    for link in IMAGE_LINK.findall(text):
        assert (path / link).is_file()
        assert ".pr." in link or "overlays" not in link  # charts: one file, workspace only
    assert table_rows(text, "test mean IoU")["—"][-1] == "—"  # nothing to judge


def test_headline_without_a_noise_estimate_says_how_to_make_one(standin):
    text = (standin["path"] / "report.md").read_text()
    assert text.index("### Headline metrics") < text.index("### Metrics")
    old, new = expected_metrics(standin["a"]), expected_metrics(standin["b"])
    rows = table_rows(text, "test mean IoU")
    assert rows[f"{old['mean.iou']:.4f}"][:2] == [f"{new['mean.iou']:.4f}", "+0.0200"]
    assert rows[f"{old['mean.iou']:.4f}"][-1] == "no noise estimate"
    assert f"`stackseg noise --base {standin['c1'][:8]}`" in text
    # the dvclive-style per-file curves are collapsed; the combined ones are not
    details = text[text.index("<details><summary>Training curves") :]
    details = details[: details.index("</details>")]
    assert "train/loss.tsv" in details and "eval/loss.tsv" in details
    assert "**Loss**<br>![Loss](report/loss.png)" in text.split("<details><summary>Training")[0]


def test_no_images_keeps_text_only_with_verdicts_from_a_cached_estimate(standin):
    path = standin["path"]
    c1 = standin["c1"]
    base = expected_metrics(standin["a"])
    # a local estimate for c1 (no remote here): mean IoU barely moves with the seed, each
    # class by +-0.01 -> the +0.02 change is beyond noise for the mean, within for classes
    values = {
        key: [value - spread, value, value + spread]
        for key, value in base.items()
        for spread in [0.001 if key == "mean.iou" else 0.01]
    }
    estimate = NoiseEstimate(c1, (43, 44, 45), {k: tuple(v) for k, v in values.items()})
    cached = path / LOCAL_DIR / f"{c1}.json"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(estimate.to_json()))
    try:
        report(path, "--base", c1, "--no-images", "--out", "text.md", "--images-dir", "unused")
    finally:
        cached.unlink()
    text = (path / "text.md").read_text()
    assert "![" not in text and "--no-images" in text
    assert table_rows(text, "params.yaml")["train.epochs"] == ["2", "3"]
    assert not (path / "unused").exists()
    headline = [line for line in text.splitlines() if line.startswith("| test mean IoU")]
    assert headline[0].endswith("| **beyond noise** |")
    assert "±0.0030 (s 0.0010;" in headline[0]
    for name in standin["a"]["classes"]:
        row = next(line for line in text.splitlines() if line.startswith(f"| IoU `{name}`"))
        assert row.endswith("| within noise |"), row
    assert "retrained with 3 seeds (43, 44, 45)" in text


def test_max_chars_below_minimum_is_refused(standin):
    proc = report(standin["path"], "--base", standin["c1"], "--max-chars", "100", check=False)
    assert proc.returncode == 1
    assert "--max-chars 100: must be at least 2000" in proc.stderr


def test_images_dir_not_written_by_report_is_refused(standin):
    path = standin["path"]
    mine = path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("user file\n")
    proc = report(
        path, "--base", standin["c1"], "--images-dir", "mine", "--out", "mine.md", check=False
    )
    assert proc.returncode == 1
    assert "mine: exists and was not written by `stackseg report`" in proc.stderr
    assert (mine / "keep.txt").read_text() == "user file\n"
    assert not (path / "mine.md").exists()


def test_workspace_without_results_is_an_error(standin):
    proc = standin["no_results"]
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "stackseg report: error: the workspace has no metrics: run `dvc repro` first "
        "(the report compares results, it does not compute them)"
    )
