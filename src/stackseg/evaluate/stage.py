"""Orchestration of the evaluate stage: one streaming pass over the test split.

1. Fit the intensity-threshold baseline on the train split (histograms only).
2. Predict every test frame at native resolution; per frame, add the model's and the
   baseline's pixels to pooled counts, the label confusion and the probability histograms,
   and keep the N best and N worst frames (by frame IoU) for the overlays.
3. Write metrics/evaluate.json and the plot files (module `outputs`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stackseg.config import Config
from stackseg.errors import InputDataError
from stackseg.evaluate import baseline, io, metrics, outputs, plots
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
        joint = metrics.joint_counts(truth, pred)  # every count of this frame, in one pass
        self.counts.add_joint(joint)
        self.labels.add_joint(joint)
        self.baseline_counts.add(truth, baseline.predict_baseline(image, self.rules))
        self.probabilities.add(truth, probs)
        iou = metrics.joint_iou(joint)
        self.frame_iou.append(iou)
        self.ranking.add(Frame(name, iou, image, truth, pred))


class Throughput:
    """Frames/s and megapixels/s of the test pass, overall and after the first batch
    (which also pays for TensorFlow tracing the model's graph once)."""

    def __init__(self, ordered: list[io.Pair], batch_size: int):
        first = ordered[:batch_size]
        self.first_batch = sum(
            1 for p in first if (p.height, p.width) == (first[0].height, first[0].width)
        )
        self.pixels = [p.height * p.width for p in ordered]
        self.started = time.perf_counter()
        self.after_first: float | None = None
        self.done = 0

    def frame_done(self) -> None:
        self.done += 1
        if self.done == self.first_batch:
            self.after_first = time.perf_counter()

    def report(self) -> str:
        now = time.perf_counter()
        seconds = max(now - self.started, 1e-9)
        megapixels = sum(self.pixels) / 1e6
        text = (
            f"evaluated {len(self.pixels)} test frames ({megapixels:.2f} megapixels) in "
            f"{seconds:.1f} s: {len(self.pixels) / seconds:.1f} frames/s, "
            f"{megapixels / seconds:.2f} megapixels/s"
        )
        rest = len(self.pixels) - self.first_batch
        if rest > 0 and self.after_first is not None:
            steady = max(now - self.after_first, 1e-9)
            rest_mp = sum(self.pixels[self.first_batch :]) / 1e6
            text += (
                f" ({rest / steady:.1f} frames/s, {rest_mp / steady:.2f} megapixels/s after "
                "the first batch, which includes tracing the model)"
            )
        return text


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

    timer = Throughput(ordered, cfg.evaluate.batch_size)
    predictions = predict_frames(model, frames(), preprocess, multiple, cfg.evaluate.batch_size)
    for name, image, probs in tqdm(
        predictions, total=len(test), desc="evaluate (test)", unit="frame"
    ):
        timer.frame_done()
        results.add(name, image, masks.pop(name), probs, cfg.evaluate.threshold)
    log.info("%s", timer.report())
    return results


def evaluate(cfg: Config) -> dict:
    """The whole stage: load the trained model, score the test split, write the outputs."""
    from stackseg.evaluate import trained

    model, card = trained.load_trained(cfg)
    trained.check_channels(model, io.read_manifest(Path(cfg.paths.prepared)), cfg)
    multiple = trained.size_multiple(card, cfg)
    results = score_test(cfg, model, trained.preprocess_function(), multiple)
    metrics_path, plots_dir = Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    document = outputs.write_outputs(results, metrics_path, plots_dir)
    log.info(
        "test mean IoU %.4f (baseline %.4f), pixel accuracy %.4f -> %s, %s/",
        document["mean"]["iou"],
        document["baseline"]["mean"]["iou"],
        document["pixel_accuracy"],
        metrics_path,
        plots_dir,
    )
    return document
