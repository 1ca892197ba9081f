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


def settings_from_config(config: Config, **overrides: int) -> SynthSettings:
    """The synth section, the class count and the mask format, with overrides (None = keep)."""
    section = config.synth
    values = {
        "stacks": section.stacks,
        "frames": section.frames,
        "height": section.height,
        "width": section.width,
        "channels": section.channels,
        "dtype": section.dtype,
        "seed": section.seed,
        "n_classes": len(config.classes),
        "mask_format": config.prepare.mask_format,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return SynthSettings(**values)
