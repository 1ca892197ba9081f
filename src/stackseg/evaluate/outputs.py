"""The evaluate stage's outputs: metrics/evaluate.json and the plot files under plots/evaluate.

Both are built beside their targets and renamed into place (`stackseg.atomic`) only when
all of it was written, so a failed run leaves the previous metrics file and plots dir as
they were, never half of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stackseg import atomic
from stackseg.evaluate import metrics, overlays, plots
from stackseg.evaluate.results import Results


def summary(results: Results) -> dict:
    """The evaluate.json document (class names as keys, numbers only where diffed)."""
    model = metrics.summarize(results.counts, results.classes)
    base = metrics.summarize(results.baseline_counts, results.classes)
    base_per_class = {
        name: {
            "iou": base["per_class"][name]["iou"],
            "dice": base["per_class"][name]["dice"],
            "threshold": rule.threshold,
            "direction": rule.direction,
        }
        for name, rule in zip(results.classes, results.rules, strict=True)
    }
    document = {
        "frames": len(results.frame_iou),
        "mean": model["mean"],
        "per_class": model["per_class"],
        "pixel_accuracy": model["pixel_accuracy"],
        "mean_frame_iou": round(float(np.mean(results.frame_iou)), 6),
        "baseline": {
            "mean": {"iou": base["mean"]["iou"], "dice": base["mean"]["dice"]},
            "per_class": base_per_class,
        },
    }
    if results.interval is not None:
        document["interval"] = results.interval
    return document


def write_plots(results: Results, document: dict, out_dir: Path) -> None:
    classes = results.classes
    (out_dir / "per_class_iou.json").write_text(
        plots.to_json(plots.iou_rows(document, document["baseline"], classes))
    )
    (out_dir / plots.CONFUSION_FILE).write_text(plots.to_json(results.labels.cells(classes)))
    (out_dir / "pr").mkdir()
    for k, name in enumerate(classes):
        path = out_dir / "pr" / f"{plots.safe_file_name(name)}.json"
        path.write_text(plots.to_json(results.probabilities.curve(k)))
    (out_dir / "overlays").mkdir()
    keep = results.ranking.keep
    for kind, frames in (("best", results.ranking.best), ("worst", results.ranking.worst)):
        for rank, frame in enumerate(frames, start=1):
            title = (
                f"{kind} {rank}/{keep}: {frame.name}  IoU {frame.iou:.3f}  "
                "(TP green, FP red, FN blue)"
            )
            image = overlays.render_overlay(frame.image, frame.truth, frame.pred, classes, title)
            overlays.save_png(image, out_dir / "overlays" / overlays.overlay_name(kind, rank, keep))


def write_outputs(results: Results, metrics_path: Path, plots_dir: Path) -> dict:
    """Write evaluate.json and the plots directory; nothing half-written on failure."""
    document = summary(results)
    # the plots dir is renamed into place first and the metrics file last: a reader that
    # sees the new metrics also sees the plots they belong to
    with atomic.replacing(metrics_path) as staged_metrics:
        staged_metrics.write_text(plots.to_json(document))
        with atomic.replacing(plots_dir, directory=True) as staged_plots:
            write_plots(results, document, staged_plots)
    return document
