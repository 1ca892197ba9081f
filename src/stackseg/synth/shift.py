"""Acquisition shifts for drift tests (`stackseg synth --shift-*`, docs/drift.md): the same
scenes and masks, photographed differently. Applied to the camera values (12-bit units,
integers like the rest of synth, so a shifted dataset is as reproducible as the plain one),
in the order light passes: optics (blur), then gain (contrast) and offset (brightness), then
the sensor (noise). The noise has its own random stream: the plain dataset's bytes, and a
shifted one's scenes and masks, do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackseg.synth.fixedpoint import NOISE_STD, bell_noise, blur3
from stackseg.synth.render import CAMERA_MAX

LEVEL = 16  # camera units per 8-bit grey level (uint8 output is camera / 16)


@dataclass(frozen=True)
class Shift:
    """How the camera changed. All zero (contrast 100) is no shift."""

    brightness: int = 0  # 8-bit grey levels added to every pixel (negative: darker)
    contrast: int = 100  # percent: each pixel's distance from the frame's mean is scaled
    blur: int = 0  # extra 3x3 box-blur passes (out of focus; 2 passes ~ Gaussian sigma 1.15 px)
    noise: int = 0  # extra bell-shaped noise, its std in 8-bit grey levels

    def __post_init__(self) -> None:
        if not -255 <= self.brightness <= 255:
            raise ValueError(f"brightness: expected -255..255 grey levels, got {self.brightness}")
        if self.contrast < 0 or self.blur < 0 or self.noise < 0:
            raise ValueError("contrast, blur and noise must be >= 0")

    @property
    def active(self) -> bool:
        return self != Shift()

    def describe(self) -> str:
        parts = []
        if self.blur:
            parts.append(f"blur {self.blur}")
        if self.contrast != 100:
            parts.append(f"contrast {self.contrast}%")
        if self.brightness:
            parts.append(f"brightness {self.brightness:+d}")
        if self.noise:
            parts.append(f"noise {self.noise}")
        return ", ".join(parts)


def apply_shift(camera: np.ndarray, shift: Shift, rng: np.random.Generator) -> np.ndarray:
    """Camera values (int32, 0..CAMERA_MAX) after the shift (see the module docstring)."""
    image = camera.astype(np.int64)
    if shift.blur:
        image = blur3(image, shift.blur)
    if shift.contrast != 100:
        mean = int(image.sum()) // image.size
        image = mean + (image - mean) * shift.contrast // 100
    image = image + shift.brightness * LEVEL
    if shift.noise:
        image = image + bell_noise(rng, image.shape) * (shift.noise * LEVEL) // NOISE_STD
    return np.clip(image, 0, CAMERA_MAX).astype(np.int32)
