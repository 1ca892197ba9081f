"""Scores of a set of frames against the reference, and the verdict.

Metrics (names as in metrics/drift.json):
- `histogram.kl`, `histogram.cross_entropy`, `histogram.psi`: the pooled intensity
  histograms (the current one first: KL(current || reference), H(current, reference));
- `<feature>.ks`, `<feature>.wasserstein`: each per-frame column (features.FEATURES, and
  with predictions the class fractions and mean confidence) against the reference's.
A metric drifted when its score exceeds its threshold (calibrate.py) at the current number
of frames; the verdict is drift when any did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stackseg.drift.metrics import scores
from stackseg.drift.profile import Profile, profile_frames
from stackseg.drift.reference import Reference


@dataclass
class MetricScore:
    """One metric: its score, its threshold at this many frames, and whether it drifted."""

    name: str
    score: float
    threshold: float

    @property
    def drifted(self) -> bool:
        return self.score > self.threshold

    @property
    def ratio(self) -> float:
        """score / threshold: above 1 is drift (the per-metric plot's bars)."""
        return self.score / self.threshold if self.threshold > 0 else float("inf") * self.score


@dataclass
class DriftReport:
    """The result of compare(): per-metric scores, the verdict, both pooled histograms."""

    frames: int
    metrics: list[MetricScore]
    histogram_current: list[float] = field(default_factory=list)
    histogram_reference: list[float] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """The verdict: any metric above its threshold."""
        return any(metric.drifted for metric in self.metrics)

    @property
    def drifted_metrics(self) -> list[str]:
        return [metric.name for metric in self.metrics if metric.drifted]

    def score(self, name: str) -> MetricScore:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: {frames, drift, drifted: [...], metrics: {name: {score, threshold,
        drifted}}, histograms: {bins, current, reference}} (metrics/drift.json's layout)."""
        return {
            "frames": self.frames,
            "drift": self.drifted,
            "drifted": self.drifted_metrics,
            "metrics": {
                m.name: {"score": m.score, "threshold": m.threshold, "drifted": m.drifted}
                for m in self.metrics
            },
            "histograms": {
                "bins": len(self.histogram_reference),
                "current": self.histogram_current,
                "reference": self.histogram_reference,
            },
        }


def compare(
    reference: Reference,
    current: Profile | Iterable[np.ndarray],
    outputs: Profile | None = None,
) -> DriftReport:
    """Score `current` (a Profile, or uint8 frames to profile) against the reference.

    `outputs`: per-frame prediction columns (`fraction_<class>`, `confidence`) of the same
    frames, compared with the reference's test-split predictions when it has them."""
    if not isinstance(current, Profile):
        current = profile_frames(current, reference.bins)
    if current.frames == 0:
        raise ValueError("no frames to compare")
    metrics = [
        MetricScore(name, score, reference.threshold(name, current.frames))
        for name, score in scores(current, reference.images).items()
    ]
    if outputs is not None and reference.outputs is not None and outputs.frames:
        metrics += [
            MetricScore(name, score, reference.threshold(name, outputs.frames))
            for name, score in scores(outputs, reference.outputs).items()
        ]
    report = DriftReport(frames=current.frames, metrics=metrics)
    if current.histograms is not None:
        report.histogram_current = current.histogram().tolist()
        report.histogram_reference = reference.images.histogram().tolist()
    return report
