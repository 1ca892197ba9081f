"""What the evaluate pass accumulates over the test split, and how fast it ran.

`Results` holds every pooled count (model and baseline confusion, label confusion,
probability histograms, frame IoUs) and the best/worst frames; `outputs` turns it into
files and `stage` fills it. Kept apart from both so neither imports the other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stackseg.contracts import Pair
from stackseg.evaluate import baseline, metrics, plots
from stackseg.evaluate.objects import ObjectScores


@dataclass
class Frame:
    name: str
    iou: float
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    objects: np.ndarray | None = None  # labels data: the objects panel of the overlay


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
    # per frame, in the order seen: its name and its (3, K) [tp, fp, fn] (the intervals)
    frame_names: list[str] = field(default_factory=list)
    frame_counts: list[np.ndarray] = field(default_factory=list)
    interval: dict | None = None  # uncertainty.intervals, filled by the stage
    objects: ObjectScores | None = None  # labels data only (stackseg.evaluate.objects)

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

    def add(
        self,
        name: str,
        image: np.ndarray,
        truth: np.ndarray,
        probs: np.ndarray,
        threshold: float | np.ndarray,
        ids: np.ndarray | None = None,
    ) -> None:
        """One test frame; `threshold` one value or one per class (the card's thresholds);
        `ids` (the true object ids) when `objects` is set."""
        pred = probs >= threshold
        joint = metrics.joint_counts(truth, pred)  # every count of this frame, in one pass
        self.counts.add_joint(joint)
        self.frame_names.append(name)
        self.frame_counts.append(np.stack(metrics.counts_from_joint(joint)[:3]))
        self.labels.add_joint(joint)
        self.baseline_counts.add(truth, baseline.predict_baseline(image, self.rules))
        self.probabilities.add(truth, probs)
        iou = metrics.joint_iou(joint)
        self.frame_iou.append(iou)
        panel = None
        if self.objects is not None:
            if ids is None:
                raise ValueError(f"{name}: object scores need the frame's true ids")
            panel = self.objects.add(ids, pred, probs)
        self.ranking.add(Frame(name, iou, image, truth, pred, panel))


class Throughput:
    """Frames/s and megapixels/s of the test pass, overall and after the first batch
    (which also pays for TensorFlow tracing the model's graph once)."""

    def __init__(self, ordered: Sequence[Pair], batch_size: int):
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
