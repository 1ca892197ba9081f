"""Drift plots: the histogram overlay and the per-metric scores, as PNG figures (matplotlib,
also for the dashboard) and as data files for `dvc plots` (dvc.yaml `plots:`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stackseg import atomic
from stackseg.drift.compare import DriftReport

HISTOGRAM_DATA = "histogram.json"
SCORES_DATA = "scores.json"
HISTOGRAM_PNG = "histogram.png"
SCORES_PNG = "scores.png"


def histogram_rows(report: DriftReport) -> list[dict[str, Any]]:
    """One row per bin: {intensity (bin start), reference, current} (shares of pixels)."""
    bins = len(report.histogram_reference)
    width = 256 / bins if bins else 0
    return [
        {"intensity": round(k * width, 3), "reference": ref, "current": cur}
        for k, (ref, cur) in enumerate(
            zip(report.histogram_reference, report.histogram_current, strict=True)
        )
    ]


def score_rows(report: DriftReport) -> list[dict[str, Any]]:
    """One row per metric: {metric, ratio (score / threshold; above 1 = drift), score, threshold}."""
    return [
        {"metric": m.name, "ratio": m.ratio, "score": m.score, "threshold": m.threshold}
        for m in report.metrics
    ]


def histogram_figure(report: DriftReport) -> Any:
    """A matplotlib Figure: reference and current pooled intensity histograms overlaid."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.5), layout="constrained")
    axes = figure.subplots()
    bins = len(report.histogram_reference)
    edges = np.linspace(0, 256, bins + 1)
    for name, values, colour in (
        ("reference (training split)", report.histogram_reference, "tab:blue"),
        (f"current ({report.frames} frames)", report.histogram_current, "tab:orange"),
    ):
        axes.stairs(values, edges, label=name, color=colour, fill=colour == "tab:blue", alpha=0.6)
    axes.set_xlabel("intensity (0..255)")
    axes.set_ylabel("share of pixels")
    axes.set_title("Intensity histograms" + (": DRIFT" if report.drifted else ": no drift"))
    axes.legend()
    return figure


def scores_figure(report: DriftReport) -> Any:
    """A matplotlib Figure: each metric's score / threshold as a bar (drifted in red)."""
    from matplotlib.figure import Figure

    metrics = report.metrics
    figure = Figure(figsize=(7, 0.25 * len(metrics) + 1.2), layout="constrained")
    axes = figure.subplots()
    ratios = [min(m.ratio, 10.0) for m in metrics]  # a huge ratio would hide the others
    colours = ["tab:red" if m.drifted else "tab:green" for m in metrics]
    axes.barh([m.name for m in metrics], ratios, color=colours)
    axes.axvline(1.0, color="black", linewidth=1)
    axes.invert_yaxis()
    axes.set_xlabel("score / threshold (above 1: drift; cut at 10)")
    axes.set_title(f"Drift scores of {report.frames} frames")
    return figure


def write_plots(report: DriftReport, directory: str | Path) -> Path:
    """The PNGs and the dvc plots data in `directory`, replaced all at once."""
    with atomic.replacing(Path(directory), directory=True) as temp:
        (temp / HISTOGRAM_DATA).write_text(json.dumps(histogram_rows(report), indent=1) + "\n")
        (temp / SCORES_DATA).write_text(json.dumps(score_rows(report), indent=1) + "\n")
        for name, figure in (
            (HISTOGRAM_PNG, histogram_figure(report)),
            (SCORES_PNG, scores_figure(report)),
        ):
            figure.savefig(temp / name, dpi=100, metadata={"Software": None})
    return Path(directory)
