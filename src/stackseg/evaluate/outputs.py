"""The evaluate stage's outputs: metrics/evaluate.json and the plot files under plots/evaluate.

Everything is written to temporary paths next to the targets and moved into place only when
all of it succeeded, so a failed run never leaves a half-written metrics file or plots dir.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stackseg.evaluate import metrics, overlays, plots

if TYPE_CHECKING:
    from stackseg.evaluate.run import Results


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
    return {
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


def write_plots(results: Results, document: dict, out_dir: Path) -> None:
    classes = results.classes
    (out_dir / "per_class_iou.json").write_text(
        plots.to_json(plots.iou_rows(document, document["baseline"], classes))
    )
    (out_dir / "confusion.csv").write_text(results.labels.to_csv(classes))
    (out_dir / "pr").mkdir()
    for k, name in enumerate(classes):
        path = out_dir / "pr" / f"{plots.safe_file_name(name)}.json"
        path.write_text(plots.to_json(results.probabilities.curve(k)))
    (out_dir / "overlays").mkdir()
    keep = results.ranking.keep
    for kind, frames in (("best", results.ranking.best), ("worst", results.ranking.worst)):
        for rank, frame in enumerate(frames, start=1):
            title = f"{kind} {rank}/{keep}: {frame.name}  IoU {frame.iou:.3f}  (TP green, FP red, FN blue)"
            image = overlays.render_overlay(frame.image, frame.truth, frame.pred, classes, title)
            overlays.save_png(image, out_dir / "overlays" / overlays.overlay_name(kind, rank, keep))


def _replace_dir(staged: Path, target: Path) -> None:
    if target.exists():
        trash = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, trash / target.name)
        os.replace(staged, target)
        shutil.rmtree(trash)
    else:
        os.replace(staged, target)


def _default_mode(directory: bool) -> int:
    """What open()/mkdir() would give (mkstemp/mkdtemp make private 0600/0700 entries)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def write_outputs(results: Results, metrics_path: Path, plots_dir: Path) -> dict:
    """Write evaluate.json and the plots directory; nothing half-written on failure."""
    document = summary(results)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    plots_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=plots_dir.parent, prefix=f".{plots_dir.name}.tmp-"))
    os.chmod(staged, _default_mode(directory=True))
    fd, tmp_metrics = tempfile.mkstemp(dir=metrics_path.parent, prefix=f".{metrics_path.name}.")
    os.close(fd)
    os.chmod(tmp_metrics, _default_mode(directory=False))
    try:
        write_plots(results, document, staged)
        Path(tmp_metrics).write_text(plots.to_json(document))
        _replace_dir(staged, plots_dir)
        os.replace(tmp_metrics, metrics_path)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        Path(tmp_metrics).unlink(missing_ok=True)
    return document
