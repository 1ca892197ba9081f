"""The objects of one demo stack: what they look like, how they drift and deform, and their
rasterisation into per-class masks and intensity layers (all in integer fixed point).

Shapes, one per class in the order of params `classes` (defaults in brackets):
  disc   [disc]   a filled, slightly lobed blob, brighter than its surroundings, granular inside;
  ring   [ring]   a thin bright annulus whose mask is the whole disc it encloses (the inside looks
                  like background, so only the shape tells it apart from background);
  streak [streak] an elongated rod of bright and dark stripes averaging to the background level;
  pit    (4th class, if any) a filled blob darker than its surroundings.
Unlabelled debris (small bright or dark specks) is drawn as well: size, not brightness, tells it
apart from the discs. Object contrasts of all classes share one range, smaller than the
illumination gradient across a frame, so no global intensity threshold can segment any class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stackseg.synth.fixedpoint import (
    SUB,
    TRIG_STEPS,
    axis_coordinate,
    cos_sin,
    ellipse_inside,
    wave,
)

KINDS = ("disc", "ring", "streak", "pit")
DEBRIS = -1  # label of unlabelled objects
ANGLE_SUB = 16  # object angles are kept in 1/16 table steps so rotation can be slow
TEXTURE_ONE = 1024  # texture fields are scaled by this


@dataclass
class Thing:
    kind: int  # index in KINDS, or DEBRIS
    label: int  # mask channel, or DEBRIS
    x: int  # centre, SUB units
    y: int
    vx: int  # velocity, SUB units per frame
    vy: int
    a: int  # semi-axes, SUB units
    b: int
    contrast: int  # camera units (12-bit)
    angle: int = 0  # ANGLE_SUB * table steps
    spin: int = 0
    phase: int = 0  # deformation phase (table steps) and its speed
    omega: int = 0
    wobble: int = 0  # deformation amplitude, 1/1024 of the semi-axes
    detail: int = 0  # ring thickness / stripe period / lobe distance (SUB units)
    detail2: int = 0  # lobe radius (disc) / stripe phase (streak)


@dataclass(frozen=True)
class Frame:
    masks: np.ndarray  # (H, W, K) uint8 0/1, one channel per class
    layers: np.ndarray  # (K, H, W) int32, intensity each class adds to the frame
    debris: np.ndarray  # (H, W) int32, intensity of the unlabelled specks


def size_scale(height: int, width: int) -> int:
    """Object size factor (1/1024): sqrt(min side / 96), so objects grow slower than frames."""
    return math.isqrt(min(height, width) * 1024 * 1024 // 96)


def _count(
    rng: np.random.Generator, low: int, high: int, height: int, width: int, minimum: int
) -> int:
    """Objects per frame: low..high at 96x96, scaled by how many object sizes fit the frame."""
    drawn = int(rng.integers(low, high + 1))
    return max(
        minimum, (drawn * height * width + 48 * min(height, width)) // (96 * min(height, width))
    )


def _px(rng: np.random.Generator, low: float, high: float, scale: int) -> int:
    """A size drawn in [low, high] px (at 96 px frames), returned in SUB units, scaled."""
    drawn = int(rng.integers(round(low * SUB), round(high * SUB) + 1))
    return drawn * scale // 1024


def _new_thing(rng: np.random.Generator, kind: int, label: int, scale: int) -> Thing:
    speed = int(rng.integers(3, 10))  # SUB units per frame: 0.2-0.6 px
    vx, vy = cos_sin(int(rng.integers(TRIG_STEPS)))
    contrast = 16 * int(rng.integers(28, 54))
    common = dict(
        kind=kind,
        label=label,
        x=0,
        y=0,
        vx=speed * vx // 1024,
        vy=speed * vy // 1024,
        angle=ANGLE_SUB * int(rng.integers(TRIG_STEPS)),
        spin=int(rng.integers(-40, 41)),
        phase=int(rng.integers(TRIG_STEPS)),
        omega=int(rng.integers(8, 25)),
    )
    if kind == DEBRIS:
        r = _px(rng, 1.5, 2.6, scale)
        sign = 1 if rng.integers(3) else -1
        return Thing(a=r, b=r, contrast=sign * contrast, **common)
    if kind == 0 or kind == 3:  # disc / pit: a lobed blob
        a = _px(rng, 7.0, 10.5, scale)
        b = a * int(rng.integers(760, 1001)) // 1000
        return Thing(
            a=a,
            b=b,
            contrast=contrast if kind == 0 else -contrast,
            wobble=int(rng.integers(50, 110)),
            detail=a * int(rng.integers(350, 520)) // 1000,
            detail2=a * int(rng.integers(550, 750)) // 1000,
            **common,
        )
    if kind == 1:  # ring
        a = _px(rng, 9.0, 12.5, scale)
        return Thing(
            a=a,
            b=a * int(rng.integers(800, 1001)) // 1000,
            contrast=contrast,
            wobble=int(rng.integers(30, 80)),
            detail=_px(rng, 2.6, 3.8, scale),
            **common,
        )
    # streak: a rod of stripes across its long axis
    b = _px(rng, 5.0, 6.5, scale)
    return Thing(
        a=b * int(rng.integers(2600, 3800)) // 1000,
        b=b,
        contrast=contrast,
        wobble=int(rng.integers(30, 70)),
        detail=max(_px(rng, 5.0, 7.0, scale), 5 * SUB),
        detail2=int(rng.integers(SUB * 8)),
        **common,
    )


def make_things(rng: np.random.Generator, n_classes: int, height: int, width: int) -> list[Thing]:
    """Every object of a stack, placed apart from each other (they may meet later)."""
    scale = size_scale(height, width)
    things: list[Thing] = []
    counts = {0: (2, 3), 1: (1, 2), 2: (1, 2), 3: (1, 2)}
    for label in range(n_classes):
        kind = label % len(KINDS)
        low, high = counts[kind]
        for _ in range(_count(rng, low, high, height, width, minimum=1)):
            things.append(_new_thing(rng, kind, label, scale))
    for _ in range(_count(rng, 2, 6, height, width, minimum=0)):
        things.append(_new_thing(rng, DEBRIS, DEBRIS, scale))
    placed: list[Thing] = []
    for thing in things:
        reach = max(thing.a, thing.b)
        for _attempt in range(40):
            thing.x = int(rng.integers(reach // 2, max(width * SUB - reach // 2, reach // 2 + 1)))
            thing.y = int(rng.integers(reach // 2, max(height * SUB - reach // 2, reach // 2 + 1)))
            if all(_apart(thing, other) for other in placed):
                break
        placed.append(thing)
    return placed


def _apart(one: Thing, other: Thing) -> bool:
    gap = max(one.a, one.b) + max(other.a, other.b) + 2 * SUB
    return (one.x - other.x) ** 2 + (one.y - other.y) ** 2 >= gap * gap


def advance(rng: np.random.Generator, things: list[Thing], height: int, width: int) -> None:
    """One frame of slow motion: a random walk of velocities, bouncing off the frame's edges."""
    kicks = rng.integers(-1, 2, size=(len(things), 2))
    limit = 12  # SUB units per frame: 0.75 px
    for thing, (kx, ky) in zip(things, kicks.tolist(), strict=True):
        thing.vx = min(max(thing.vx + kx, -limit), limit)
        thing.vy = min(max(thing.vy + ky, -limit), limit)
        thing.x, thing.vx = bounce(
            thing.x + thing.vx, thing.vx, max(thing.a, thing.b) // 2, width * SUB
        )
        thing.y, thing.vy = bounce(
            thing.y + thing.vy, thing.vy, max(thing.a, thing.b) // 2, height * SUB
        )
        thing.angle += thing.spin
        thing.phase += thing.omega


def bounce(pos: int, vel: int, margin: int, size: int) -> tuple[int, int]:
    """A position and velocity reflected off the walls `margin` inside 0..size (integers)."""
    low, high = margin, max(size - margin, margin)
    if pos < low:
        return 2 * low - pos, abs(vel)
    if pos > high:
        return 2 * high - pos, -abs(vel)
    return pos, vel


def _shape(thing: Thing, dx: np.ndarray, dy: np.ndarray, texture: np.ndarray):
    """(mask, intensity) of one object over offsets dx, dy (SUB units) from its centre."""
    cos_t, sin_t = cos_sin(thing.angle // ANGLE_SUB)
    stretch = wave(thing.phase, thing.a * thing.wobble // 1024)
    a, b = thing.a + stretch, thing.b - stretch * thing.b // max(thing.a, 1)
    if thing.kind == DEBRIS:
        inside = ellipse_inside(dx, dy, thing.a, thing.b, cos_t, sin_t)
        return inside, inside * thing.contrast
    if thing.kind in (0, 3):
        inside = ellipse_inside(dx, dy, a, b, cos_t, sin_t)
        lobe_cos, lobe_sin = cos_sin(thing.angle // ANGLE_SUB + thing.phase // 3)
        lx = thing.detail * lobe_cos // 1024
        ly = thing.detail * lobe_sin // 1024
        inside |= ellipse_inside(dx - lx, dy - ly, thing.detail2, thing.detail2, 1024, 0)
        grain = TEXTURE_ONE + texture * 2 // 5
        return inside, inside * (thing.contrast * grain // TEXTURE_ONE)
    if thing.kind == 1:
        inside = ellipse_inside(dx, dy, a, b, cos_t, sin_t)
        hole = ellipse_inside(dx, dy, a - thing.detail, b - thing.detail, cos_t, sin_t)
        grain = TEXTURE_ONE + texture // 5
        return inside, (inside & ~hole) * (thing.contrast * grain // TEXTURE_ONE)
    inside = ellipse_inside(dx, dy, a, b, cos_t, sin_t)
    along = axis_coordinate(dx, dy, cos_t, sin_t) + thing.detail2
    sign = 1 - 2 * ((along * 2 // thing.detail) & 1)
    return inside, inside * sign * thing.contrast


def _reach(thing: Thing) -> int:
    """Distance from the centre (SUB units) beyond which the object never draws."""
    reach = max(thing.a, thing.b) + max(thing.a, thing.b) * thing.wobble // 1024
    if thing.kind in (0, 3):
        reach = max(reach, thing.detail + thing.detail2)  # the lobe
    return reach + SUB


def rasterise(
    things: list[Thing], n_classes: int, height: int, width: int, texture: np.ndarray
) -> Frame:
    """Masks and intensity layers of one frame. `texture` is a (T, T) granular pattern that
    moves with each object."""
    masks = np.zeros((height, width, n_classes), dtype=np.uint8)
    layers = np.zeros((n_classes, height, width), dtype=np.int32)
    debris = np.zeros((height, width), dtype=np.int32)
    tile = texture.shape[0]
    for thing in things:
        reach = _reach(thing)
        x0, x1 = max((thing.x - reach) // SUB, 0), min((thing.x + reach) // SUB + 1, width)
        y0, y1 = max((thing.y - reach) // SUB, 0), min((thing.y + reach) // SUB + 1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.int64)
        ys = np.arange(y0, y1, dtype=np.int64)
        dx = (xs * SUB + SUB // 2 - thing.x)[None, :]
        dy = (ys * SUB + SUB // 2 - thing.y)[:, None]
        grain = texture[np.ix_((ys - thing.y // SUB) % tile, (xs - thing.x // SUB) % tile)]
        inside, value = _shape(thing, dx, dy, grain)
        if thing.label == DEBRIS:
            debris[y0:y1, x0:x1] += value.astype(np.int32)
        else:
            masks[y0:y1, x0:x1, thing.label] |= inside
            layers[thing.label, y0:y1, x0:x1] += value.astype(np.int32)
    return Frame(masks=masks, layers=layers, debris=debris)
