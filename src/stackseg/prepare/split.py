"""Stable train/val/test assignment by hash, so adding or removing a stack moves no other.

Each unit (a stack, or with `split_by: frame` one frame of a stack) gets a position
u = sha256("<seed>/<key>") read as a number in [0, 1); the fractions cut [0, 1) into
consecutive ranges train | val | test. A unit's split depends only on its own key and the
seed, never on the other units.

With 3 or more units, every split whose fraction is above 0 gets at least one unit: only
when a split would otherwise be empty, the unit whose position is closest to that split's
range (ties: smaller key) is moved into it, taken from a split that keeps at least one unit.
Splits are filled in the order train, val, test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from stackseg.contracts import SPLITS

MIN_UNITS_FOR_EVERY_SPLIT = 3


def position(key: str, seed: int) -> float:
    """The unit's place in [0, 1): the first 8 bytes of sha256 as a fraction."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def ranges(fractions: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """[low, high) of each split; the last split with a fraction above 0 ends at 1."""
    bounds: dict[str, tuple[float, float]] = {}
    low = 0.0
    for name in SPLITS:
        high = low + fractions[name]
        bounds[name] = (low, high)
        low = high
    last = max((name for name in SPLITS if fractions[name] > 0), key=SPLITS.index)
    bounds[last] = (bounds[last][0], 1.0)
    return bounds


def _distance(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return 0.0 if low <= value < high else min(abs(value - low), abs(value - high))


def assign(keys: Iterable[str], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """key -> split name, stable under adding/removing other keys (see module doc)."""
    keys = sorted(set(keys))
    places = {key: position(key, seed) for key in keys}
    bounds = ranges(fractions)
    result: dict[str, str] = {}
    for key in keys:
        for name in SPLITS:
            low, high = bounds[name]
            if fractions[name] > 0 and low <= places[key] < high:
                result[key] = name
                break
    if len(keys) >= MIN_UNITS_FOR_EVERY_SPLIT:
        _fill_empty_splits(result, places, bounds, fractions)
    return result


def _fill_empty_splits(
    result: dict[str, str],
    places: Mapping[str, float],
    bounds: Mapping[str, tuple[float, float]],
    fractions: Mapping[str, float],
) -> None:
    for name in SPLITS:
        if fractions[name] <= 0 or name in result.values():
            continue
        sizes = {split: list(result.values()).count(split) for split in SPLITS}
        donors = [key for key, split in result.items() if sizes[split] > 1]
        if not donors:
            return
        chosen = min(donors, key=lambda key: (_distance(places[key], bounds[name]), key))
        result[chosen] = name


def frame_key(stack: str, frame: int) -> str:
    return f"{stack}/{frame}"
