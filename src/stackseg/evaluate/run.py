"""Orchestration of the evaluate stage: one streaming pass over the test split.

1. Fit the intensity-threshold baseline on the train split (histograms only).
2. Predict every test frame at native resolution; per frame, add the model's and the
   baseline's pixels to pooled counts, the label confusion and the probability histograms,
   and keep the N best and N worst frames (by frame IoU) for the overlays.
3. Write metrics/evaluate.json and the plot files to temporary paths, then move them in.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stackseg.config import Config
from stackseg.errors import InputDataError
from stackseg.evaluate import baseline, io, metrics, overlays, plots
from stackseg.predict import predict_frames

log = logging.getLogger(__name__)


@dataclass
class Frame:
    name: str
    iou: float
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray


@dataclass
class Ranking:
    """The `keep` best and worst frames by IoU; ties broken by name, so ranks are stable."""

    keep: int
    best: list[Frame] = field(default_factory=list)
    worst: list[Frame] = field(default_factory=list)

    def add(self, frame: Frame) -> None:
        if self.keep == 0:
            return
        self.best = sorted([*self.best, frame], key=lambda f: (-f.iou, f.name))[: self.keep]
        self.worst = sorted([*self.worst, frame], key=lambda f: (f.iou, f.name))[: self.keep]


@dataclass
class Results:
    classes: list[str]
    counts: metrics.ConfusionCounts
    baseline_counts: metrics.ConfusionCounts
    labels: plots.LabelConfusion
    probabilities: plots.ProbabilityHistograms
    ranking: Ranking
    rules: list[baseline.ThresholdRule] = field(default_factory=list)
    frame_iou: list[float] = field(default_factory=list)

    @classmethod
    def empty(cls, classes: list[str], keep: int) -> Results:
        k = len(classes)
        return cls(
            classes,
            metrics.ConfusionCounts(k),
            metrics.ConfusionCounts(k),
            plots.LabelConfusion(k),
            plots.ProbabilityHistograms(k),
            Ranking(keep),
        )

    def add(self, name: str, image, truth, probs, threshold: float) -> None:
        pred = probs >= threshold
        self.counts.add(truth, pred)
        self.baseline_counts.add(truth, baseline.predict_baseline(image, self.rules))
        self.labels.add(truth, pred)
        self.probabilities.add(truth, probs)
        iou = float(metrics.frame_iou(truth[None], pred[None])[0])
        self.frame_iou.append(iou)
        self.ranking.add(Frame(name, iou, image, truth, pred))


def check_classes(manifest: dict, cfg: Config, prepared: Path) -> None:
    if list(manifest["classes"]) != list(cfg.classes):
        raise InputDataError(
            [
                f"{prepared / io.MANIFEST}: classes {manifest['classes']} differ from params "
                f"classes {cfg.classes}; rerun `dvc repro prepare`"
            ]
        )


def fit_baseline(prepared: Path, pairs: list[io.Pair], channels: int, n_classes: int) -> list:
    if not pairs:
        raise InputDataError([f"{prepared / io.MANIFEST}: the train split is empty"])
    frames = io.iter_pairs(prepared, pairs, channels, n_classes)
    progress = tqdm(frames, total=len(pairs), desc="baseline (train)", unit="frame", leave=False)
    return baseline.fit_baseline(((image, mask) for _, image, mask in progress), n_classes)


def score_test(cfg: Config, model: Any, preprocess: Callable, multiple: int) -> Results:
    """Steps 1-2: the baseline rules and every accumulated score of the test split."""
    prepared = Path(cfg.paths.prepared)
    manifest = io.read_manifest(prepared)
    check_classes(manifest, cfg, prepared)
    channels, classes = int(manifest["image_channels"]), list(cfg.classes)
    test = io.split_pairs(manifest, "test")
    if not test:
        raise InputDataError([f"{prepared / io.MANIFEST}: the test split is empty"])
    rules = fit_baseline(prepared, io.split_pairs(manifest, "train"), channels, len(classes))
    results = Results.empty(classes, min(cfg.evaluate.overlays, len(test)))
    results.rules = rules
    # sizes grouped so same-size frames share batches; order does not change pooled counts
    ordered = sorted(test, key=lambda pair: (pair.height, pair.width))
    masks: dict[str, np.ndarray] = {}

    def frames():
        for pair, image, mask in io.iter_pairs(prepared, ordered, channels, len(classes)):
            masks[pair.name] = mask
            yield pair.name, image

    started = time.perf_counter()
    predictions = predict_frames(model, frames(), preprocess, multiple, cfg.evaluate.batch_size)
    for name, image, probs in tqdm(
        predictions, total=len(test), desc="evaluate (test)", unit="frame"
    ):
        results.add(name, image, masks.pop(name), probs, cfg.evaluate.threshold)
    seconds = max(time.perf_counter() - started, 1e-9)
    megapixels = sum(pair.height * pair.width for pair in test) / 1e6
    log.info(
        "evaluated %d test frames (%.2f megapixels) in %.1f s: %.1f frames/s, %.2f megapixels/s",
        len(test),
        megapixels,
        seconds,
        len(test) / seconds,
        megapixels / seconds,
    )
    return results


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


def evaluate(cfg: Config) -> dict:
    """The whole stage: load the trained model, score the test split, write the outputs."""
    from stackseg.evaluate import trained

    model, card = trained.load_trained(cfg)
    trained.check_channels(model, io.read_manifest(Path(cfg.paths.prepared)), cfg)
    multiple = trained.size_multiple(card, cfg)
    results = score_test(cfg, model, trained.preprocess_function(), multiple)
    metrics_path, plots_dir = Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    document = write_outputs(results, metrics_path, plots_dir)
    log.info(
        "test mean IoU %.4f (baseline %.4f), pixel accuracy %.4f -> %s, %s/",
        document["mean"]["iou"],
        document["baseline"]["mean"]["iou"],
        document["pixel_accuracy"],
        metrics_path,
        plots_dir,
    )
    return document
