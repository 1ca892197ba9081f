"""The model's side of drift: per-frame predicted class fractions and confidence.

Input drift the model shrugs off matters less than drift in what it predicts; the reference
keeps these columns for the test split (stage.py) and the server fills them for each frame
it predicts, so both are compared like the image features (compare.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from stackseg.drift.profile import Profile

CONFIDENCE = "confidence"


def fraction_name(class_name: str) -> str:
    return f"fraction_{class_name}"


def prediction_features(
    probabilities: np.ndarray, classes: Sequence[str], threshold: float | Sequence[float]
) -> dict[str, float]:
    """One frame's (H, W, K) probabilities -> `fraction_<class>` (the share of pixels above
    the class's threshold) and `confidence` (the mean of max(p, 1 - p): 0.5 undecided, 1 sure)."""
    probs = np.asarray(probabilities, dtype=np.float32)
    cut = np.broadcast_to(np.asarray(threshold, dtype=np.float32), (probs.shape[-1],))
    fractions = (probs >= cut).reshape(-1, probs.shape[-1]).mean(axis=0)
    values = {fraction_name(name): float(f) for name, f in zip(classes, fractions, strict=True)}
    values[CONFIDENCE] = float(np.maximum(probs, 1.0 - probs).mean())
    return values


def output_profile(
    rows: Iterable[dict[str, float]], groups: Sequence[str] | None = None
) -> Profile:
    """A Profile (no histograms) of prediction_features rows."""
    from stackseg.drift.profile import group_ids

    table = list(rows)
    names = list(table[0]) if table else []
    return Profile(
        features={name: np.array([row[name] for row in table]) for name in names},
        groups=None if groups is None else group_ids(groups),
    )
