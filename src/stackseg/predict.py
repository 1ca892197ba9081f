"""Native-resolution prediction with a fully convolutional model of any input size.

A U-Net with `depth` poolings needs height and width divisible by 2**depth (encoders of
segmentation-models need 32). Frames are padded at the bottom and right by reflection up to
the next multiple and the output is cropped back, so every output pixel lines up with its
input pixel and the top-left of a frame always sits on the model's pooling grid. Frames of
the same size are batched together; frames of different sizes simply form separate batches.

Used by the evaluate stage and meant for any inference entry point: it takes 8-bit frames
and the training preprocessing function, and yields per-pixel class probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np

Key = TypeVar("Key")
Preprocess = Callable[[np.ndarray], np.ndarray]


def padding_for(size: int, multiple: int) -> int:
    """Rows (or columns) to add so that `size` becomes a multiple of `multiple`."""
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    return (-size) % multiple


def pad_to_multiple(batch: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad a (N, H, W, C) batch at the bottom/right to multiples of `multiple`."""
    height, width = batch.shape[1:3]
    pad_h, pad_w = padding_for(height, multiple), padding_for(width, multiple)
    if pad_h == 0 and pad_w == 0:
        return batch
    # numpy repeats the reflection when the pad is larger than the frame (and repeats the
    # edge of a single-pixel axis), so tiny frames need no special case.
    return np.pad(batch, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="reflect")


def predict_batch(model: Any, batch: np.ndarray, multiple: int) -> np.ndarray:
    """Probabilities (N, H, W, K) float32 for a preprocessed (N, H, W, C) batch."""
    height, width = batch.shape[1:3]
    padded = pad_to_multiple(batch, multiple)
    output = np.asarray(model.predict_on_batch(padded))
    if output.shape[:3] != padded.shape[:3]:
        raise ValueError(
            f"model returned {output.shape[1:3]} for input {padded.shape[1:3]}: "
            f"its required size multiple is not {multiple}"
        )
    return output[:, :height, :width, :].astype(np.float32, copy=False)


def _same_size_batches(
    frames: Iterable[tuple[Key, np.ndarray]], batch_size: int
) -> Iterator[list[tuple[Key, np.ndarray]]]:
    """Consecutive frames grouped into batches of equal shape, at most batch_size long."""
    batch: list[tuple[Key, np.ndarray]] = []
    for key, frame in frames:
        if batch and (len(batch) == batch_size or frame.shape != batch[0][1].shape):
            yield batch
            batch = []
        batch.append((key, frame))
    if batch:
        yield batch


def predict_frames(
    model: Any,
    frames: Iterable[tuple[Key, np.ndarray]],
    preprocess: Preprocess,
    multiple: int,
    batch_size: int,
) -> Iterator[tuple[Key, np.ndarray, np.ndarray]]:
    """Yield (key, frame, probabilities (H, W, K)) in input order for (key, 8-bit frame) pairs.

    Frames are (H, W, C) uint8 as stored; `preprocess` turns a stacked uint8 batch into the
    model's input (it must be the training pipeline's own function). Only consecutive frames
    of equal shape share a batch: sort the input by size when sizes are mixed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for batch in _same_size_batches(frames, batch_size):
        stacked = np.stack([frame for _, frame in batch])
        probabilities = predict_batch(model, np.asarray(preprocess(stacked)), multiple)
        for (key, frame), probs in zip(batch, probabilities, strict=True):
            yield key, frame, probs
