"""The reference profile (models/reference.json, params `paths.drift_reference`): the
training split's per-frame features and histograms, the thresholds calibrated on them, and
(optionally) the model's predicted class fractions and confidence on the test split.

It travels with the model (registry/fetch.py fetches it beside the card), so `stackseg drift`
and the server compare new frames with the data the served model was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackseg import atomic
from stackseg.drift.calibrate import SIZES, calibrate, threshold_at
from stackseg.drift.profile import Profile
from stackseg.errors import InputDataError

FORMAT = "stackseg-drift-reference"
VERSION = 1


@dataclass
class Reference:
    """What new data is compared with. `thresholds`: metric -> value at each of `sizes`."""

    bins: int
    alpha: float
    bootstrap: int
    seed: int
    images: Profile
    thresholds: dict[str, list[float]]
    outputs: Profile | None = None
    sizes: list[int] = field(default_factory=lambda: list(SIZES))
    about: dict[str, Any] = field(default_factory=dict)  # where it came from (split, frames)

    def threshold(self, metric: str, frames: int) -> float:
        """The metric's threshold for a sample of `frames` frames."""
        if self.sizes != list(SIZES):
            raise ValueError("reference calibrated on other sample sizes; rebuild it")
        return threshold_at(self.thresholds[metric], frames)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "bins": self.bins,
            "alpha": self.alpha,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "sizes": self.sizes,
            "about": self.about,
            "thresholds": self.thresholds,
            "images": self.images.to_json(),
            "outputs": None if self.outputs is None else self.outputs.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reference:
        outputs = data.get("outputs")
        return cls(
            bins=int(data["bins"]),
            alpha=float(data["alpha"]),
            bootstrap=int(data["bootstrap"]),
            seed=int(data["seed"]),
            sizes=[int(s) for s in data["sizes"]],
            about=dict(data.get("about") or {}),
            thresholds={k: [float(x) for x in v] for k, v in data["thresholds"].items()},
            images=Profile.from_json(data["images"]),
            outputs=None if outputs is None else Profile.from_json(outputs),
        )

    def save(self, path: str | Path) -> Path:
        """Write it atomically (JSON)."""
        atomic.write_text(Path(path), json.dumps(self.to_json(), indent=1) + "\n")
        return Path(path)


def load_reference(path: str | Path) -> Reference:
    """Read a reference; a missing or malformed file is an InputDataError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError(
            f"{path}: no drift reference; build it with `dvc repro reference`"
        ) from None
    except (OSError, ValueError) as err:
        raise InputDataError(f"{path}: not a readable drift reference ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputDataError(f"{path}: not a stackseg drift reference (no format: {FORMAT})")
    if data.get("version") != VERSION or data.get("sizes") != list(SIZES):
        raise InputDataError(
            f"{path}: drift reference of another version; rebuild it with `dvc repro reference`"
        )
    try:
        return Reference.from_json(data)
    except (KeyError, TypeError, ValueError) as err:
        raise InputDataError(f"{path}: malformed drift reference ({err})") from None


def build_reference(
    images: Profile,
    bins: int,
    alpha: float,
    bootstrap: int,
    seed: int,
    outputs: Profile | None = None,
    about: dict[str, Any] | None = None,
    show: bool = True,
) -> Reference:
    """A Reference of the training split's `images` profile (and the test split's predicted
    `outputs`), with thresholds calibrated by bootstrap (calibrate.py; seeded)."""
    thresholds = calibrate(images, alpha, bootstrap, seed, "drift thresholds", show)
    if outputs is not None:
        thresholds.update(calibrate(outputs, alpha, bootstrap, seed, "output thresholds", show))
    return Reference(
        bins=bins,
        alpha=alpha,
        bootstrap=bootstrap,
        seed=seed,
        images=images,
        thresholds=thresholds,
        outputs=outputs,
        about=dict(about or {}),
    )
