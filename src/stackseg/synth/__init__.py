"""The built-in demo dataset: deterministic multi-page TIFF stacks of images and masks.

`stackseg synth` writes <raw>/images/<name>.tif and <raw>/masks/<name>.tif. Modules:
fixedpoint (integer maths), scene (objects, motion, masks), render (camera pixels),
stack (one stack frame by frame), writer (TIFF files, process pool, atomic replace).

`stackseg synth --full` writes the real scale of the original project (20,090 pairs): the
`synth:` section of the full-scale profile, FULL_PROFILE, the same file `dvc exp run` uses.
`stackseg synth --labels` writes the instance-label demo (nuclei.py) of LABELS_PROFILE, whose
`prepare.mask_format: labels` selects it (params.yaml saying so does the same).
`stackseg synth --shift-brightness/--shift-contrast/--shift-blur/--shift-noise` writes the
same scenes photographed differently (shift.py), for drift tests (docs/drift.md).
"""

from __future__ import annotations

from pathlib import Path

from stackseg.config import FULL_PROFILE, Config, config_from_dict, load_profile, merge
from stackseg.errors import ConfigError
from stackseg.synth.shift import Shift
from stackseg.synth.stack import SynthSettings, stack_frames
from stackseg.synth.writer import generate, holds_stacks

# The instance-label demo's profile, relative to the project root (like FULL_PROFILE).
LABELS_PROFILE = Path("profiles/labels.yaml")

__all__ = [
    "FULL_PROFILE",
    "LABELS_PROFILE",
    "Shift",
    "SynthSettings",
    "generate",
    "holds_stacks",
    "settings_from_config",
    "stack_frames",
    "with_profile",
]


def with_profile(config: Config, path: str | Path) -> Config:
    """`config` with the profile at `path` merged over it, validated like params.yaml
    (a key the config does not know is one error line naming the profile)."""
    profile = load_profile(path)
    if not isinstance(profile.get("synth"), dict):
        raise ConfigError([f"{path}: has no synth: section (the dataset synth writes from it)"])
    return config_from_dict(merge(config.model_dump(mode="json"), profile), source=str(path))


def settings_from_config(
    config: Config, shift: Shift | None = None, **overrides: int | None
) -> SynthSettings:
    """The synth section with the class count and the mask format; `overrides` that are
    not None (stacks, frames, seed, ...) win; `shift`: the camera changed (drift tests)."""
    values: dict = {
        **config.synth.model_dump(),
        "n_classes": len(config.classes),
        "mask_format": config.prepare.mask_format,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return SynthSettings(**values, shift=shift or Shift())
