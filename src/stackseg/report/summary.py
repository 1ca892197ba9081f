"""`stackseg summary`: the evaluate stage's metrics as a few readable lines.

What `make pipeline` ends with, instead of the 60-column `dvc metrics show` table:

1. read the evaluate metrics file (params `paths.evaluate_metrics`); missing or broken is
   one error line saying how to produce it;
2. the test mean IoU of the model next to the intensity-threshold baseline's, and the
   pixel accuracy;
3. IoU and dice per class, model vs baseline;
4. where the plots are (params `paths.evaluate_plots`) and the DVC commands that show them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from stackseg.errors import InputDataError

RUN_FIRST = "run `dvc repro` (or `stackseg evaluate`) first"


def read_metrics(path: Path) -> dict:
    """The evaluate metrics file as a mapping; one error line if it is missing or broken."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError(f"{path}: not found: {RUN_FIRST}") from None
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc}): {RUN_FIRST}") from None
    if not isinstance(data, dict):
        raise InputDataError(f"{path}: expected a JSON object: {RUN_FIRST}")
    return data


def _number(data: dict, path: Path, *keys: str) -> float:
    value: object = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputDataError(
            f"{path}: {'.'.join(keys)}: missing or not a number "
            "(written by another stackseg version?): run `dvc repro evaluate`"
        )
    return float(value)


def _optional(data: dict, *keys: str) -> float | None:
    value: object = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _cell(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _verdict(model: float, baseline: float | None) -> str:
    if baseline is None:
        return "(no baseline in the metrics file)"
    change = model - baseline
    if change > 0:
        return f"baseline {baseline:.4f}: the model is {change:+.4f} better"
    return f"baseline {baseline:.4f}: the model is NOT better ({change:+.4f})"


PLOT_COMMANDS = (
    "  dvc plots show --open          every plot of this workspace, in the browser",
    "  dvc plots diff main --open     the same beside another revision's (e.g. main)",
    "  dvc metrics diff main          every metric beside another revision's",
)


def _contents(plots_dir: Path) -> str:
    if not plots_dir.is_dir():
        return f"(not there: {RUN_FIRST})"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in plots_dir.iterdir())
    return f"({', '.join(n for n in names if not n.startswith('.'))})"


def summarize(metrics: dict, metrics_path: Path, plots_dir: Path) -> str:
    """The summary text (steps 2-4 of the module docstring)."""
    mean_iou = _number(metrics, metrics_path, "mean", "iou")
    accuracy = _number(metrics, metrics_path, "pixel_accuracy")
    frames = metrics.get("frames")
    per_class = metrics.get("per_class")
    if not isinstance(per_class, dict) or not per_class:
        raise InputDataError(
            f"{metrics_path}: per_class: missing or empty: run `dvc repro evaluate`"
        )
    found = metrics.get("baseline")
    baseline: dict = found if isinstance(found, dict) else {}
    tested = f"{frames} test frames" if isinstance(frames, int) else "the test split"
    lines = [
        f"Test results ({tested}, {metrics_path}):",
        f"  mean IoU        {mean_iou:.4f}  ({_verdict(mean_iou, _optional(baseline, 'mean', 'iou'))})",
        f"  pixel accuracy  {accuracy:.4f}",
        "",
    ]
    width = max(5, *(len(name) for name in per_class))
    lines.append(
        f"  {'class':<{width}}  {'IoU model':>9}  {'baseline':>8}   {'dice model':>10}  baseline"
    )
    for name in per_class:
        lines.append(
            f"  {name:<{width}}  {_cell(_optional(per_class, name, 'iou')):>9}"
            f"  {_cell(_optional(baseline, 'per_class', name, 'iou')):>8}"
            f"   {_cell(_optional(per_class, name, 'dice')):>10}"
            f"  {_cell(_optional(baseline, 'per_class', name, 'dice')):>8}"
        )
    lines.append(
        f"  {'mean':<{width}}  {_cell(mean_iou):>9}"
        f"  {_cell(_optional(baseline, 'mean', 'iou')):>8}"
        f"   {_cell(_optional(metrics, 'mean', 'dice')):>10}"
        f"  {_cell(_optional(baseline, 'mean', 'dice')):>8}"
    )
    lines += ["", f"Plots: {plots_dir}/ {_contents(plots_dir)}", *PLOT_COMMANDS]
    return "\n".join(lines)
