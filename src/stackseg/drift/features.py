"""Per-frame image features and intensity histograms: what a frame's pixels look like, in
numbers the model's input depends on (pure numpy/scipy, no model).

Frames are uint8 (H, W) or (H, W, C) in 0..255, as the model sees them after prepare's
scaling; colour frames are compared on their mean over channels (the luminance the
histograms and features describe).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

# The features of every frame, in this order (docs/drift.md says what each one catches).
FEATURES: tuple[str, ...] = (
    "mean",  # brightness
    "std",  # global contrast
    "p1",  # dark end (offset, clipping)
    "p50",  # median
    "p99",  # bright end (gain, saturation)
    "contrast",  # Michelson contrast of the robust range: (p99 - p1) / (p99 + p1)
    "sharpness",  # variance of the Laplacian (focus, blur)
    "noise",  # Immerkaer's noise sigma (sensor noise, compression)
)

# Immerkaer (1996), "Fast noise variance estimation": this kernel cancels smooth image
# content up to second order, so what is left is mostly noise.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def gray(frame: np.ndarray) -> np.ndarray:
    """float64 (H, W): the frame, colour averaged over its channels.

    Raises ValueError for anything but a non-empty 2-D or 3-D array."""
    array = np.asarray(frame)
    if array.ndim == 3:
        # RGBA: alpha is not light; one channel: the mean is the channel itself
        array = array[..., :3].mean(axis=-1) if array.shape[-1] > 1 else array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"expected an (H, W) or (H, W, C) frame, got shape {array.shape}")
    return array.astype(np.float64, copy=False)


def frame_features(frame: np.ndarray) -> dict[str, float]:
    """The FEATURES of one frame (uint8 (H, W[, C]) in 0..255), as floats."""
    image = gray(frame)
    p1, p50, p99 = np.percentile(image, [1, 50, 99])
    values = {
        "mean": float(image.mean()),
        "std": float(image.std()),
        "p1": float(p1),
        "p50": float(p50),
        "p99": float(p99),
        "contrast": float((p99 - p1) / (p99 + p1)) if p99 + p1 > 0 else 0.0,
        "sharpness": float(ndimage.laplace(image, mode="reflect").var()),
        "noise": noise_sigma(image),
    }
    return values


def noise_sigma(image: np.ndarray) -> float:
    """Immerkaer's estimate of additive Gaussian noise's sigma (grey levels) of a 2-D image."""
    h, w = image.shape
    if h < 3 or w < 3:
        return 0.0
    residual = ndimage.convolve(image, _NOISE_KERNEL, mode="reflect")[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2) * np.abs(residual).mean() / 6.0)


def histogram(frame: np.ndarray, bins: int) -> np.ndarray:
    """float64 (bins,): the frame's intensity histogram on fixed, equal bins over 0..256,
    normalised to sum 1 (each frame weighs the same, whatever its size)."""
    counts, _ = np.histogram(gray(frame), bins=bins, range=(0.0, 256.0))
    return counts / counts.sum()


def feature_rows(
    frames: Iterable[np.ndarray], bins: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(features, histograms) of many frames: FEATURES -> float64 (n,), and (n, bins)."""
    rows: list[dict[str, float]] = []
    hists: list[np.ndarray] = []
    for frame in frames:
        rows.append(frame_features(frame))
        hists.append(histogram(frame, bins))
    columns = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in FEATURES}
    return columns, np.array(hists, dtype=np.float64).reshape(len(hists), bins)
