"""Integer building blocks of the demo-data generator.

Every pixel of the demo dataset is computed with integer arithmetic so that its bytes are the
same on every CPU: float results of transcendental functions (and of convolutions, whose
summation order follows the SIMD path) may differ in the last bit between machines, and one
flipped rounding would change the dataset's hash. Geometry uses fixed point (SUB steps per
pixel, trigonometry scaled by TRIG_ONE), blurs sum integers, noise sums random bytes.
"""

from __future__ import annotations

import math

import numpy as np

SUB = 16  # fixed-point steps per pixel for positions and sizes
TRIG_STEPS = 1024  # angles are indices into a table of TRIG_STEPS entries per turn
TRIG_ONE = 1024  # cos/sin table values are scaled by this
# math.cos may differ by one ulp between libms; rounding to integers makes the tables identical
# everywhere as long as no entry lies within that ulp of a .5 boundary (checked by a test).
COS_TABLE = tuple(
    round(TRIG_ONE * math.cos(2 * math.pi * k / TRIG_STEPS)) for k in range(TRIG_STEPS)
)
SIN_TABLE = tuple(
    round(TRIG_ONE * math.sin(2 * math.pi * k / TRIG_STEPS)) for k in range(TRIG_STEPS)
)

# Sum of 4 uniform bytes minus its mean: bell-shaped, zero mean, standard deviation ~147.8.
NOISE_CENTRE = 510
NOISE_STD = 148


def cos_sin(angle: int) -> tuple[int, int]:
    """cos and sin (scaled by TRIG_ONE) of an angle given in table steps (any integer)."""
    k = angle % TRIG_STEPS
    return COS_TABLE[k], SIN_TABLE[k]


def wave(phase: int, amplitude: int) -> int:
    """amplitude * sin(phase), phase in table steps, rounded toward minus infinity."""
    return amplitude * SIN_TABLE[phase % TRIG_STEPS] // TRIG_ONE


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window with edge replication, in integers (rounded to nearest)."""
    if radius <= 0:
        return image
    size = 2 * radius + 1
    padded = np.pad(
        image.astype(np.int64),
        [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2),
        mode="edge",
    )
    # integral image: window sums are exact differences of integer cumulative sums
    total = np.cumsum(np.cumsum(padded, axis=0), axis=1)
    total = np.pad(total, [(1, 0), (1, 0)] + [(0, 0)] * (image.ndim - 2))
    h, w = image.shape[:2]
    window = (
        total[size : size + h, size : size + w]
        - total[:h, size : size + w]
        - total[size : size + h, :w]
        + total[:h, :w]
    )
    area = size * size
    return ((window + area // 2) // area).astype(image.dtype)


def blur3(image: np.ndarray, passes: int) -> np.ndarray:
    """`passes` rounds of a 3x3 box blur (two rounds approximate a Gaussian of sigma ~1.15 px)."""
    h, w = image.shape[:2]
    for _ in range(passes):
        p = np.pad(image, [(1, 1), (1, 1)] + [(0, 0)] * (image.ndim - 2), mode="edge")
        rows = p[:-2] + p[1:-1] + p[2:]
        window = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]
        image = (window + 4) // 9
        assert image.shape[:2] == (h, w)
    return image


def bell_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean integer noise with a bell-shaped distribution (std NOISE_STD), from raw bytes."""
    count = math.prod(shape)
    raw = np.frombuffer(rng.bytes(4 * count), dtype=np.uint8).reshape(4, count)
    # four contiguous rows added element-wise: much faster than a sum over a short axis
    total = raw[0].astype(np.int32)
    total += raw[1]
    total += raw[2]
    total += raw[3]
    total -= NOISE_CENTRE
    return total.reshape(shape)


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], radius: int, amplitude: int
) -> np.ndarray:
    """A random texture of feature size ~2*radius px with values in [-amplitude, amplitude]."""
    field = bell_noise(rng, shape).astype(np.int64)
    field = box_blur(box_blur(field, radius), radius)
    field -= int(field.sum()) // field.size
    peak = max(int(np.abs(field).max()), 1)
    return (field * amplitude // peak).astype(np.int32)


def isqrt_table(limit: int) -> np.ndarray:
    """floor(sqrt(k)) for k in [0, limit), computed with integers only."""
    return np.array([math.isqrt(k) for k in range(limit)], dtype=np.int32)


def ellipse_inside(
    dx: np.ndarray, dy: np.ndarray, a: int, b: int, cos_t: int, sin_t: int
) -> np.ndarray:
    """Whether offsets (dx, dy) (in SUB units) lie in an ellipse of semi-axes a, b (SUB units)
    whose a-axis points at the angle whose cos/sin (TRIG_ONE scale) are given."""
    # rotate, then drop the trig scale so the squares below stay far from int64 overflow
    u = (dx * cos_t + dy * sin_t) // TRIG_ONE
    v = (dy * cos_t - dx * sin_t) // TRIG_ONE
    a = max(a, 1)
    b = max(b, 1)
    return u * u * (b * b) + v * v * (a * a) <= (a * a) * (b * b)


def axis_coordinate(dx: np.ndarray, dy: np.ndarray, cos_t: int, sin_t: int) -> np.ndarray:
    """Offsets projected on the direction (cos_t, sin_t), in SUB units."""
    return (dx * cos_t + dy * sin_t) // TRIG_ONE
