"""Data drift: are new frames like the ones the model was trained on? (docs/drift.md)

Pure numpy/scipy; no model needed for the image side. Modules:
features (per-frame FEATURES and histograms), stats (KL, cross-entropy, PSI, KS,
Wasserstein), profile (Profile: a set of frames' features), calibrate (bootstrap
thresholds), reference (Reference: models/reference.json), compare (compare() ->
DriftReport), plots, stage (the reference and drift stages).

Typical use::

    from stackseg.drift import compare, load_reference
    report = compare(load_reference("models/reference.json"), frames)  # uint8 frames
    report.drifted, report.drifted_metrics, report.to_json()
"""

from __future__ import annotations

from stackseg.drift.compare import DriftReport, MetricScore, compare
from stackseg.drift.features import FEATURES, frame_features, histogram
from stackseg.drift.metrics import scores
from stackseg.drift.profile import Profile, join, profile_frames
from stackseg.drift.reference import Reference, build_reference, load_reference

__all__ = [
    "FEATURES",
    "DriftReport",
    "MetricScore",
    "Profile",
    "Reference",
    "build_reference",
    "compare",
    "frame_features",
    "histogram",
    "join",
    "load_reference",
    "profile_frames",
    "scores",
]
