"""The one rule that brings uint16 and float images to 8 bits, per stack.

uint8 images are kept as they are. Any other type (uint16, other integers, float) is scaled
with a per-stack percentile window: `low` and `high` are the `low_percentile` and
`high_percentile` (default 0.1 and 99.9) of every pixel of the stack (all frames, all
channels together, so colours keep their balance), and each pixel becomes

    round(255 * (clip(v, low, high) - low) / (high - low))

(round half to even; a constant stack, high == low, becomes 0). The percentiles are read
from a histogram built in a streaming pass over the frames: exact for uint16 (one bin per
value); for float and other integer types, 65,536 equal bins between the stack's minimum
and maximum (a first pass), so `low`/`high` are exact to 1/65,536 of that range. `low` is
the lower edge of its bin and `high` the upper edge. The rule and each stack's window are
recorded in the manifest (`contracts.SCALING_RULE`, `StackScaling`), so inference can apply
the same mapping to new stacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HISTOGRAM_BINS = 65536


@dataclass(frozen=True)
class ScaleWindow:
    low: float
    high: float


def needs_scaling(dtype: str) -> bool:
    return np.dtype(dtype) != np.uint8


def is_exact_histogram(dtype: str) -> bool:
    """uint16 gets one bin per value; other types need a min/max pass first."""
    return np.dtype(dtype) == np.uint16


def percentile_ranks(total: int, low_percentile: float, high_percentile: float) -> tuple[int, int]:
    """0-based ranks (in sorted order) of the low and high percentile among `total` values."""
    last = total - 1
    low = math.floor(low_percentile / 100.0 * last)
    high = math.ceil(high_percentile / 100.0 * last)
    return low, min(high, last)


def window_bins(
    counts: np.ndarray, low_percentile: float, high_percentile: float
) -> tuple[int, int]:
    """Indices of the histogram bins holding the low and high percentile values."""
    cumulative = np.cumsum(counts, dtype=np.int64)
    low_rank, high_rank = percentile_ranks(int(cumulative[-1]), low_percentile, high_percentile)
    # the value of rank r sits in the first bin whose cumulative count exceeds r
    low_bin = int(np.searchsorted(cumulative, low_rank, side="right"))
    high_bin = int(np.searchsorted(cumulative, high_rank, side="right"))
    return low_bin, high_bin


class StackStatistics:
    """Streaming accumulation of a stack's histogram (and range) over its frames."""

    def __init__(self, dtype: str, low_percentile: float, high_percentile: float):
        self.exact = is_exact_histogram(dtype)
        self.low_percentile = low_percentile
        self.high_percentile = high_percentile
        self.minimum = math.inf
        self.maximum = -math.inf
        self.counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)

    @property
    def needs_range_pass(self) -> bool:
        return not self.exact

    def add_range(self, frame: np.ndarray) -> int:
        """First pass for non-uint16 types; returns the number of NaN/inf pixels."""
        finite = np.isfinite(frame) if frame.dtype.kind == "f" else None
        bad = 0 if finite is None else int(finite.size - np.count_nonzero(finite))
        values = frame if not bad else frame[finite]
        if values.size:
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))
        return bad

    def add_histogram(self, frame: np.ndarray) -> None:
        if self.exact:
            self.counts += np.bincount(frame.ravel(), minlength=HISTOGRAM_BINS)
        elif self.maximum > self.minimum:
            counts, _ = np.histogram(frame, bins=HISTOGRAM_BINS, range=(self.minimum, self.maximum))
            self.counts += counts

    def window(self) -> ScaleWindow:
        if not self.exact and not self.maximum > self.minimum:
            level = self.minimum if math.isfinite(self.minimum) else 0.0
            return ScaleWindow(level, level)
        low_bin, high_bin = window_bins(self.counts, self.low_percentile, self.high_percentile)
        if self.exact:
            return ScaleWindow(float(low_bin), float(high_bin))
        step = (self.maximum - self.minimum) / HISTOGRAM_BINS
        low = self.minimum + low_bin * step
        high = (
            self.maximum if high_bin >= HISTOGRAM_BINS - 1 else self.minimum + (high_bin + 1) * step
        )
        return ScaleWindow(low, high)


def scale_values(values: np.ndarray, window: ScaleWindow) -> np.ndarray:
    """The documented formula on any numeric array; uint8 result of the same shape."""
    if not window.high > window.low:
        return np.zeros(values.shape, dtype=np.uint8)
    data = np.clip(values.astype(np.float64), window.low, window.high)
    data -= window.low
    data *= 255.0 / (window.high - window.low)
    return np.rint(data).astype(np.uint8)


class Scaler:
    """Applies a stack's window to its frames (a lookup table for uint16)."""

    def __init__(self, dtype: str, window: ScaleWindow | None, rule: str = "stack"):
        # rule: prepare.scaling; "stack" windows are this stack's own percentiles
        self.window, self.rule = window, rule
        self.table = None
        if window is not None and is_exact_histogram(dtype):
            self.table = scale_values(np.arange(HISTOGRAM_BINS, dtype=np.uint16), window)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.window is None:
            return frame
        if self.table is not None:
            return np.take(self.table, frame)
        return scale_values(frame, self.window)

    def record(self, dtype: str, low_percentile: float, high_percentile: float) -> dict:
        """The manifest's description of what was applied to this stack."""
        if self.window is None:
            return {"source_dtype": dtype, "method": "none"}
        if self.rule != "stack":  # the one window of the training or fixed rule
            return {
                "source_dtype": dtype,
                "method": self.rule,
                "low": self.window.low,
                "high": self.window.high,
            }
        return {
            "source_dtype": dtype,
            "method": "percentile",
            "low_percentile": low_percentile,
            "high_percentile": high_percentile,
            "low": self.window.low,
            "high": self.window.high,
        }


def scaler_from_record(record: dict) -> Scaler:
    """The Scaler a manifest `stacks.<name>.scaling` record describes (for inference)."""
    if record["method"] == "none":
        return Scaler(record["source_dtype"], None)
    rule = "stack" if record["method"] == "percentile" else record["method"]
    return Scaler(record["source_dtype"], ScaleWindow(record["low"], record["high"]), rule)
