"""The built-in demo dataset: deterministic multi-page TIFF stacks of images and masks.

`stackseg synth` writes <raw>/images/<name>.tif and <raw>/masks/<name>.tif. Modules:
fixedpoint (integer maths), scene (objects, motion, masks), render (camera pixels),
stack (one stack frame by frame), writer (TIFF files, process pool, atomic replace).
"""

from __future__ import annotations

from stackseg.config import Config
from stackseg.synth.stack import SynthSettings, stack_frames
from stackseg.synth.writer import generate, holds_stacks

# The real scale of the original project, for benchmarks: 20,090 pairs.
FULL_PRESET = {"stacks": 41, "frames": 490, "height": 256, "width": 256}

__all__ = [
    "FULL_PRESET",
    "SynthSettings",
    "generate",
    "holds_stacks",
    "settings_from_config",
    "stack_frames",
]


def settings_from_config(
    config: Config, full: bool = False, **overrides: int | None
) -> SynthSettings:
    """The synth section with the class count and the mask format; `full` applies
    FULL_PRESET, then `overrides` that are not None (stacks, frames, seed, ...) win."""
    values = {
        **config.synth.model_dump(),
        "n_classes": len(config.classes),
        "mask_format": config.prepare.mask_format,
        **(FULL_PRESET if full else {}),
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return SynthSettings(**values)
