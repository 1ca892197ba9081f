"""A stand-in DVC project for report and CI tests: real git + DVC, stages that take no time.

The stages are a small Python script writing outputs shaped like the real pipeline's
(dvclive TSVs, metrics JSON, a per-class bar-chart file, overlay PNGs) whose values are
exact functions of params, so tests can assert the numbers the report shows. The real
pipeline end to end is covered by test_report_pipeline.py (slow).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import run, tiny_params

STAGES_SCRIPT = '''
"""Stand-in stages: deterministic outputs from params.yaml, shaped like the real ones."""
import json
import os
import sys

import yaml
from PIL import Image

params = yaml.safe_load(open("params.yaml"))
epochs = params["train"]["epochs"]
lr = params["train"]["learning_rate"]
classes = params["classes"]


def loss(step):
    return round(1.0 / (1.0 + (step + 1) * lr * 100), 6)


if sys.argv[1] == "train":
    os.makedirs("models", exist_ok=True)
    with open("models/model.keras", "w") as f:
        f.write(f"stand-in model lr={lr} epochs={epochs}\\n")
    for split in ("train", "eval"):
        os.makedirs(f"metrics/train/plots/metrics/{split}", exist_ok=True)
        with open(f"metrics/train/plots/metrics/{split}/loss.tsv", "w") as f:
            f.write("step\\tloss\\n")
            for step in range(epochs):
                f.write(f"{step}\\t{loss(step)}\\n")
    with open("metrics/train/metrics.json", "w") as f:
        json.dump({"step": epochs - 1, "train": {"loss": loss(epochs - 1)}}, f)
else:
    ious = {name: round(0.5 + lr * 10 + k / 100, 6) for k, name in enumerate(classes)}
    os.makedirs("plots/evaluate/overlays", exist_ok=True)
    with open("metrics/evaluate.json", "w") as f:
        mean = round(sum(ious.values()) / len(ious), 6)
        json.dump({"mean": {"iou": mean}, "per_class": {n: {"iou": v} for n, v in ious.items()}}, f)
    with open("plots/evaluate/per_class_iou.json", "w") as f:
        json.dump([{"label": name, "iou": v} for name, v in ious.items()], f)
    shade = int(lr * 10000) % 256
    for rank, name in enumerate(("best_01", "worst_01")):
        Image.new("RGB", (24, 16), (shade, 40 * rank, 100)).save(f"plots/evaluate/overlays/{name}.png")
'''

DVC_YAML = {
    "stages": {
        "train": {
            "cmd": "python stages_standin.py train",
            "deps": ["stages_standin.py", "data/raw"],
            "params": ["train.epochs", "train.learning_rate"],
            "outs": ["models/model.keras"],
            "metrics": [{"metrics/train/metrics.json": {"cache": False}}],
            # like dvclive's directory in the real dvc.yaml: one plot per TSV file
            "plots": [{"metrics/train/plots/metrics": {"cache": False, "x": "step"}}],
        },
        "evaluate": {
            "cmd": "python stages_standin.py evaluate",
            "deps": ["stages_standin.py", "models/model.keras"],
            "params": ["classes", "train.learning_rate"],
            "outs": [{"plots/evaluate": {"cache": False}}],
            "metrics": [{"metrics/evaluate.json": {"cache": False}}],
        },
    },
    "plots": [
        {
            "Loss": {
                "template": "linear",
                "x": "step",
                "y": {
                    "metrics/train/plots/metrics/train/loss.tsv": "loss",
                    "metrics/train/plots/metrics/eval/loss.tsv": "loss",
                },
            }
        },
        {
            "plots/evaluate/per_class_iou.json": {
                "template": "bar_horizontal",
                "x": "iou",
                "y": "label",
            }
        },
        "plots/evaluate/overlays",
    ],
}


def expected_metrics(params: dict) -> dict[str, float]:
    """What the stand-in writes to metrics/evaluate.json, flattened like `dvc metrics`."""
    lr = params["train"]["learning_rate"]
    ious = {name: round(0.5 + lr * 10 + k / 100, 6) for k, name in enumerate(params["classes"])}
    flat = {f"per_class.{name}.iou": value for name, value in ious.items()}
    flat["mean.iou"] = round(sum(ious.values()) / len(ious), 6)
    return flat


def write_raw(path: Path, tag: str = "v1") -> None:
    """A stand-in raw dataset (not real TIFFs: the stand-in stages never read it)."""
    for sub in ("images", "masks"):
        (path / "data/raw" / sub).mkdir(parents=True, exist_ok=True)
        (path / "data/raw" / sub / "stack_a.tif").write_text(f"{sub} {tag}\n")


def make_standin(path: Path, params: dict | None = None, raw: str | None = "demo") -> Path:
    """git + dvc repo with the stand-in stages and params; data/raw tracked by data/raw.dvc.

    raw: "demo" = `stackseg synth` (what CI regenerates when the remote lacks it),
    "custom" = other bytes (CI cannot regenerate them), None = no data/raw.
    """
    path.mkdir(parents=True, exist_ok=True)
    (path / "stages_standin.py").write_text(STAGES_SCRIPT.lstrip())
    (path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (path / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    (path / ".gitignore").write_text("/report/\nreport.md\nreport-text.md\n")
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "tests@stackseg.invalid"], path)
    run(["git", "config", "user.name", "stackseg tests"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "config", "core.analytics", "false"], path)
    if raw == "demo":
        run(["stackseg", "synth"], path)
    elif raw == "custom":
        write_raw(path)
    if raw:
        run(["dvc", "add", "-q", "data/raw"], path)
    return path


def set_params(path: Path, **train: object) -> dict:
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["train"].update(train)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def commit_all(path: Path, message: str) -> str:
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", message], path)
    return run(["git", "rev-parse", "HEAD"], path).stdout.strip()


IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def table_rows(text: str, first_cell: str) -> dict[str, list[str]]:
    """{second cell: remaining cells} of the Markdown table rows starting with first_cell."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells[0] == first_cell:
            rows[cells[1]] = cells[2:]
    return rows
