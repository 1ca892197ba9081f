"""ONNX against Keras on the test split at native resolution.

Each test frame is decoded once and predicted by both backends through
`stackseg.predict.predict_frames` (the same reflection padding to the size multiple and
crop back as evaluate). Two figures decide: the largest |ONNX - Keras| over every
probability, and the number of pixels whose mask differs in any class once both are
thresholded at the model card's threshold (`probs >= threshold`, as evaluate does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.contracts import Pair
from stackseg.evaluate import io
from stackseg.predict import predict_frames
from stackseg.progress import progress


@dataclass
class Parity:
    """What the comparison found, pooled over the frames seen so far."""

    frames: int = 0
    pixels: int = 0
    max_abs_diff: float = 0.0
    mask_pixels_differing: int = 0
    worst_frame: str = ""  # where max_abs_diff was found

    def add(
        self, name: str, reference: np.ndarray, other: np.ndarray, threshold: float | np.ndarray
    ) -> None:
        if reference.shape != other.shape:
            raise ValueError(f"{name}: output shapes differ, {reference.shape} and {other.shape}")
        diff = float(np.max(np.abs(reference - other))) if reference.size else 0.0
        if diff > self.max_abs_diff or not self.worst_frame:
            self.max_abs_diff, self.worst_frame = diff, name
        self.frames += 1
        self.pixels += int(np.prod(reference.shape[:2]))
        differ = (reference >= threshold) != (other >= threshold)
        self.mask_pixels_differing += int(np.count_nonzero(np.any(differ, axis=-1)))

    def problem(self, max_abs_diff: float) -> str | None:
        """Why parity does not hold, or None."""
        if self.max_abs_diff > max_abs_diff or self.mask_pixels_differing:
            return (
                f"max |ONNX - Keras| {self.max_abs_diff:.3g} (allowed {max_abs_diff:g}, worst "
                f"frame {self.worst_frame}) and {self.mask_pixels_differing} mask pixel(s) "
                f"differing over {self.frames} test frame(s)"
            )
        return None


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def compare(
    prepared: Path,
    pairs: list[Pair],
    channels: int,
    n_classes: int,
    reference: Any,
    other: Any,
    preprocess: Callable,
    multiple: int,
    threshold: float | np.ndarray,
    batch_size: int,
) -> Parity:
    """Parity of `other` against `reference` (backends with predict_on_batch) on `pairs`."""
    parity = Parity()
    # sizes grouped so that same-size frames share batches
    ordered = sorted(pairs, key=lambda pair: (pair.height, pair.width, pair.name))
    frames = (
        (pair.name, image)
        for pair, image, _ in io.iter_pairs(prepared, ordered, channels, n_classes)
    )
    with progress(len(ordered), "export parity (test)", "frame") as bar:
        for chunk in _chunks(frames, batch_size):
            ours = predict_frames(reference, chunk, preprocess, multiple, batch_size)
            theirs = predict_frames(other, chunk, preprocess, multiple, batch_size)
            for (name, _, a), (_, _, b) in zip(ours, theirs, strict=True):
                parity.add(name, a, b, threshold)
                bar.update(1)
    return parity
