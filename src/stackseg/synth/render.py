"""From objects to camera pixels: background texture, uneven illumination, optical blur, shot
and read noise, colour, and the output dtype — integers all the way (see fixedpoint.py).

Pixels are computed in 12-bit camera units (0..4095): uint16 output stores them as they are
(a 12-bit camera in a 16-bit container), uint8 divides by 16, float32 divides by 4095.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackseg.synth.fixedpoint import (
    NOISE_STD,
    SUB,
    TRIG_STEPS,
    bell_noise,
    blur3,
    cos_sin,
    isqrt_table,
    smooth_field,
)
from stackseg.synth.scene import TEXTURE_ONE, Frame, size_scale

CAMERA_MAX = 4095
TEXTURE_TILE = 64
DRIFT_MARGIN = 12  # px of background canvas around the frame, room for the stage drift
SHADE_BITS = 10
SHADE_ONE = 1 << SHADE_BITS
# noise * sigma * NOISE_SCALE >> 16 is noise * sigma / NOISE_STD without a slow integer division
NOISE_SCALE = round(65536 / NOISE_STD)
VARIANCE_LIMIT = 1 << 15
_ISQRT = isqrt_table(VARIANCE_LIMIT)

# RGB tints (1/256) of a multi-stain fluorescence overlay: bluish-grey background; the classes
# in green, magenta, orange and cyan, mixed enough that colour alone does not separate them.
BACKGROUND_TINT = (150, 165, 200)
CLASS_TINTS = ((150, 255, 150), (255, 140, 230), (255, 200, 110), (120, 230, 255))


@dataclass
class Look:
    """The imaging conditions of one stack (drawn once, slowly varying over its frames)."""

    level: int  # background level, camera units
    shading: np.ndarray  # (H, W) illumination, SHADE_ONE = 1
    canvas: np.ndarray  # background texture, larger than the frame by DRIFT_MARGIN each side
    texture: np.ndarray  # granular pattern carried by the objects
    blur_passes: int
    read_noise: int  # camera units
    gain: int  # shot-noise variance per camera unit, 1/16
    drift_x: int = DRIFT_MARGIN * SUB  # background offset, SUB units
    drift_y: int = DRIFT_MARGIN * SUB
    drift_vx: int = 0
    drift_vy: int = 0


def make_look(rng: np.random.Generator, height: int, width: int) -> Look:
    scale = size_scale(height, width)
    level = 16 * int(rng.integers(55, 150))
    # linear gradient of +-15..40 % plus a vignette: larger than the objects' contrast
    gradient = int(rng.integers(150, 420))
    vignette = int(rng.integers(0, 200))
    cos_g, sin_g = cos_sin(int(rng.integers(TRIG_STEPS)))
    span = max(height, width)
    xc = 2 * np.arange(width, dtype=np.int64)[None, :] - (width - 1)
    yc = 2 * np.arange(height, dtype=np.int64)[:, None] - (height - 1)
    along = (xc * cos_g + yc * sin_g) // 1024
    shading = (
        SHADE_ONE + gradient * along // span - vignette * (xc * xc + yc * yc) // (2 * span * span)
    )
    shading -= int(shading.sum()) // shading.size - SHADE_ONE  # integer mean: exact
    canvas_shape = (height + 2 * DRIFT_MARGIN, width + 2 * DRIFT_MARGIN)
    # background blobs much larger and smoother than the objects: texture, not look-alikes
    coarse_radius = max(2, 8 * scale // 1024)
    canvas = smooth_field(rng, canvas_shape, coarse_radius, 16 * int(rng.integers(8, 20)))
    canvas += smooth_field(rng, canvas_shape, 1, 16 * int(rng.integers(3, 9)))
    texture = smooth_field(rng, (TEXTURE_TILE, TEXTURE_TILE), 1, TEXTURE_ONE)
    return Look(
        level=level,
        shading=shading.astype(np.int32),
        canvas=canvas,
        texture=texture,
        blur_passes=int(rng.choice([0, 1, 1, 2])),
        read_noise=16 * int(rng.integers(3, 9)) // 2,
        gain=int(rng.integers(16, 64)),
    )


def drift(rng: np.random.Generator, look: Look) -> None:
    """Slow random walk of the stage: the background slides by a fraction of a pixel per frame."""
    kx, ky = rng.integers(-1, 2, size=2).tolist()
    look.drift_vx = min(max(look.drift_vx + kx, -3), 3)
    look.drift_vy = min(max(look.drift_vy + ky, -3), 3)
    top = 2 * DRIFT_MARGIN * SUB
    for axis in ("x", "y"):
        pos = getattr(look, f"drift_{axis}") + getattr(look, f"drift_v{axis}")
        if not 0 <= pos <= top:
            pos = min(max(pos, 0), top)
            setattr(look, f"drift_v{axis}", -getattr(look, f"drift_v{axis}"))
        setattr(look, f"drift_{axis}", pos)


def compose(rng: np.random.Generator, look: Look, frame: Frame, channels: int) -> np.ndarray:
    """Camera values (int32, 0..CAMERA_MAX) of one frame: (H, W) or (H, W, 3)."""
    height, width = look.shading.shape
    ox, oy = look.drift_x // SUB, look.drift_y // SUB
    base = look.level + look.canvas[oy : oy + height, ox : ox + width] + frame.debris
    if channels == 1:
        signal = base + frame.layers.sum(axis=0, dtype=np.int32)
        flat = look.shading
    else:
        signal = base[..., None] * np.array(BACKGROUND_TINT, dtype=np.int32)
        for label, layer in enumerate(frame.layers):
            tint = np.array(CLASS_TINTS[label % len(CLASS_TINTS)], dtype=np.int32)
            signal += layer[..., None] * tint
        signal >>= 8  # tints are in 1/256
        flat = look.shading[..., None]
    flicker = SHADE_ONE + int(rng.integers(-20, 21))
    # shifts by SHADE_BITS: floor division by SHADE_ONE, but much faster on arrays
    image = (signal * ((flat * flicker) >> SHADE_BITS)) >> SHADE_BITS
    image = blur3(np.clip(image, 0, CAMERA_MAX), look.blur_passes)
    variance = look.read_noise * look.read_noise + ((image * look.gain) >> 4)
    sigma = _ISQRT[np.clip(variance, 0, VARIANCE_LIMIT - 1)]
    image += (bell_noise(rng, image.shape) * sigma * NOISE_SCALE) >> 16
    return np.clip(image, 0, CAMERA_MAX).astype(np.int32)


def to_dtype(camera: np.ndarray, dtype: str) -> np.ndarray:
    """Camera values as the configured output dtype."""
    if dtype == "uint8":
        return np.minimum((camera + 8) >> 4, 255).astype(np.uint8)
    if dtype == "uint16":
        return camera.astype(np.uint16)
    # float32 in [0, 1]: one correctly rounded IEEE division, identical on every CPU
    return camera.astype(np.float32) / np.float32(CAMERA_MAX)


def mask_pixels(masks: np.ndarray, mask_format: str) -> np.ndarray:
    """(H, W, K) 0/1 per class ("channels") or (H, W) class index, 0 = background ("index",
    later classes drawn over earlier ones)."""
    if mask_format == "channels":
        return masks
    index = np.zeros(masks.shape[:2], dtype=np.uint8)
    for label in range(masks.shape[2]):
        index[masks[..., label] > 0] = label + 1
    return index
