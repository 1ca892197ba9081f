"""The one scaling window of `prepare.scaling: training` (and `fixed`), before any pair is
written.

`training`: the `scale_low_percentile` / `scale_high_percentile` of every pixel of every
uint16/float TRAINING frame pooled (split_by frame: the train frames of each stack). The
same histogram as the per-stack rule (prepare/scaling.py), summed over stacks: exact for
uint16 (one bin per value, when every such training stack is uint16); otherwise 65,536
bins between the pooled minimum and maximum (a first pass per stack gives those). Each
stack's part runs in a worker and returns its histogram only, so memory stays at one
histogram per stack in flight, however large the training data. uint8 stacks are kept as
they are under every rule, so they add nothing; with no uint16/float training stack there
is no window (None), and new uint16/float data get their own per-stack window at inference.

`fixed`: `prepare.scale_window` as given.

The window goes into every job (pairs.py applies it instead of the stack's own) and into
the manifest's `scaling` record (`contracts.scaling_rule`), and from there into the model
card's `prepared_scaling`, which infer and serve apply to new data.
"""

from __future__ import annotations

import math

import numpy as np

from stackseg.prepare.layout import StackLayout
from stackseg.prepare.scaling import ScaleWindow, StackStatistics, needs_scaling

POOLED_FLOAT = "float64"  # the non-exact histogram's dtype when types are mixed


def stack_range(layout: StackLayout, frames: tuple[int, ...]) -> tuple[float, float]:
    """(min, max) of the finite pixels of these frames (runs in a worker); NaN/inf pixels
    are left out here and reported by the stack's own job."""
    from stackseg.prepare.frames import StackReader

    stats = StackStatistics(POOLED_FLOAT, 0.0, 100.0)
    with StackReader(layout, reuse_buffer=True) as reader:
        for index in frames:
            stats.add_range(reader.frame(index))
    return stats.minimum, stats.maximum


def stack_histogram(
    layout: StackLayout, frames: tuple[int, ...], exact: bool, low: float, high: float
) -> np.ndarray:
    """The histogram of these frames (runs in a worker): one bin per uint16 value when
    `exact`, else the pooled range's 65,536 bins."""
    from stackseg.prepare.frames import StackReader

    stats = StackStatistics("uint16" if exact else POOLED_FLOAT, 0.0, 100.0)
    stats.minimum, stats.maximum = low, high
    with StackReader(layout, reuse_buffer=True) as reader:
        for index in frames:
            frame = reader.frame(index)
            if not exact and frame.dtype.kind == "f":
                frame = frame[np.isfinite(frame)]
            stats.add_histogram(frame)
    return stats.counts


def training_frames(layouts: dict[str, StackLayout], splits: dict[str, tuple]) -> dict:
    """Per uint16/float stack with training frames: (layout, its train frame indices)."""
    found = {}
    for name, layout in sorted(layouts.items()):
        frames = tuple(f for f, split in enumerate(splits[name]) if split == "train")
        if frames and needs_scaling(layout.dtype):
            found[name] = (layout, frames)
    return found


def training_window(
    workers, layouts: dict[str, StackLayout], splits: dict[str, tuple], settings
) -> ScaleWindow | None:
    """The pooled window of the training frames (None: no uint16/float training frame)."""
    parts = training_frames(layouts, splits)
    if not parts:
        return None
    exact = all(layout.dtype == "uint16" for layout, _ in parts.values())
    low, high = 0.0, float(2**16 - 1)
    if not exact:
        ranges = list(workers.map_unordered(stack_range, list(parts.values())))
        low = min((r[0] for r in ranges), default=math.inf)
        high = max((r[1] for r in ranges), default=-math.inf)
    pooled = StackStatistics(
        "uint16" if exact else POOLED_FLOAT, settings.low_percentile, settings.high_percentile
    )
    pooled.minimum, pooled.maximum = low, high
    items = [(layout, frames, exact, low, high) for layout, frames in parts.values()]
    for counts in workers.map_unordered(stack_histogram, items):
        pooled.counts += counts
    if not pooled.counts.any() and (exact or pooled.maximum > pooled.minimum):
        return None  # only NaN/inf pixels: the stacks' own jobs report them
    return pooled.window()


def rule_window(workers, layouts, splits, settings) -> ScaleWindow | None:
    """The window of the settings' rule: None for stack (each stack its own)."""
    if settings.scaling == "fixed":
        return ScaleWindow(*settings.scale_window)
    if settings.scaling == "training":
        return training_window(workers, layouts, splits, settings)
    return None
