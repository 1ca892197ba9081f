"""A Profile: the per-frame features (and intensity histograms) of a set of frames, with the
group (stack) each frame came from. The reference holds one of the training split; what
is checked for drift becomes one too; compare.scores measures the distance of two."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stackseg.drift.features import feature_rows


@dataclass
class Profile:
    """Per-frame columns (name -> float64 (n,)), optional (n, bins) histograms (each row
    sums to 1) and optional (n,) integer group ids (frames of one stack share an id; the
    threshold bootstrap resamples whole groups, since frames of one stack look alike)."""

    features: dict[str, np.ndarray]
    histograms: np.ndarray | None = None
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        sizes = {len(values) for values in self.features.values()}
        if self.histograms is not None:
            sizes.add(len(self.histograms))
        if self.groups is not None:
            sizes.add(len(self.groups))
        if len(sizes) > 1:
            raise ValueError(f"a profile's columns differ in length: {sorted(sizes)}")

    @property
    def frames(self) -> int:
        """How many frames it describes."""
        if self.histograms is not None:
            return len(self.histograms)
        return len(next(iter(self.features.values()), ()))

    def histogram(self) -> np.ndarray:
        """The pooled intensity histogram: the mean of the frames' (sums to 1)."""
        if self.histograms is None or not len(self.histograms):
            raise ValueError("this profile has no histograms")
        return self.histograms.mean(axis=0)

    def take(self, index: np.ndarray) -> Profile:
        """The frames at `index` (repeats allowed: a bootstrap sample)."""
        return Profile(
            features={name: values[index] for name, values in self.features.items()},
            histograms=None if self.histograms is None else self.histograms[index],
            groups=None if self.groups is None else self.groups[index],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "features": {name: values.tolist() for name, values in self.features.items()},
            "histograms": None if self.histograms is None else self.histograms.tolist(),
            "groups": None if self.groups is None else self.groups.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        hists = data.get("histograms")
        groups = data.get("groups")
        return cls(
            features={k: np.asarray(v, dtype=np.float64) for k, v in data["features"].items()},
            histograms=None if hists is None else np.asarray(hists, dtype=np.float64),
            groups=None if groups is None else np.asarray(groups, dtype=np.int64),
        )


def profile_frames(
    frames: Iterable[np.ndarray], bins: int, groups: Sequence[str] | None = None
) -> Profile:
    """The Profile of uint8 frames (features.FEATURES + histograms on `bins` fixed bins);
    `groups`: each frame's stack name (any hashable label), or None for independent frames."""
    columns, hists = feature_rows(frames, bins)
    return Profile(columns, hists, group_ids(groups) if groups is not None else None)


def group_ids(labels: Sequence[str]) -> np.ndarray:
    """int64 ids of labels, numbered by first appearance."""
    seen: dict[str, int] = {}
    return np.array([seen.setdefault(label, len(seen)) for label in labels], dtype=np.int64)


def join(profiles: Sequence[Profile]) -> Profile:
    """Frames of several profiles as one (their columns must match); groups are renumbered
    so that groups of different profiles stay apart."""
    if not profiles:
        raise ValueError("nothing to join")
    names = list(profiles[0].features)
    offset = 0
    groups = []
    for profile in profiles:
        ids = profile.groups if profile.groups is not None else np.arange(profile.frames)
        groups.append(ids + offset)
        offset += int(ids.max()) + 1 if len(ids) else 0
    hists = [p.histograms for p in profiles]
    return Profile(
        features={n: np.concatenate([p.features[n] for p in profiles]) for n in names},
        histograms=None if any(h is None for h in hists) else np.concatenate(hists),  # type: ignore[arg-type]
        groups=np.concatenate(groups),
    )
