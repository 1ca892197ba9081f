"""Frames over the memory budget, predicted in overlapping tiles with blended seams.

A frame with more than `infer.max_frame_pixels` pixels (an 8k x 8k remote-sensing tile)
would need the model's activations for all of it at once. It is cut into tiles of
`tile_size` (rounded down to the model's size multiple) whose starts step by
`tile_size - tile_overlap` (also a multiple), so every tile sits on the model's pooling grid
as it would in a whole-frame prediction; the last tile of a row or column ends at the
frame's edge (it is padded by `predict.predict_frames` like any frame).

Where tiles overlap, their probabilities are blended with weights that ramp down linearly
towards each tile's edges (over `tile_overlap` pixels; 1 elsewhere): a pixel near a tile's
edge, where the model saw least context, counts least, and there is no visible seam.
Outside the overlaps a pixel comes from one tile only, and far enough from the tile edges
(the model's receptive field) it equals the whole-frame prediction.

Memory per frame: the blend accumulators, 4 bytes x (classes + 1) per pixel, plus one batch
of tiles through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from stackseg.predict import predict_frames


def tile_starts(size: int, tile: int, step: int) -> list[int]:
    """Starts along one axis: 0, step, 2*step, ... until a tile reaches `size`."""
    if size <= tile:
        return [0]
    starts = [0]
    while starts[-1] + tile < size:
        starts.append(starts[-1] + step)
    return starts


def tile_geometry(tile_size: int, overlap: int, multiple: int) -> tuple[int, int]:
    """(tile, step) aligned to the size multiple; the step is at least one multiple."""
    tile = max(multiple, tile_size // multiple * multiple)
    step = max(multiple, (tile - overlap) // multiple * multiple)
    return tile, step


def ramp(length: int, overlap: int) -> np.ndarray:
    """1-D blend weights of a tile side: linear from the edges over `overlap` pixels, never 0."""
    position = np.arange(length, dtype=np.float32)
    if overlap <= 0:
        return np.ones(length, np.float32)
    from_edge = np.minimum(position + 0.5, length - position - 0.5)
    return np.minimum(1.0, from_edge / overlap).astype(np.float32)


def tiles(height: int, width: int, tile: int, step: int) -> Iterator[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of every tile, row by row."""
    for top in tile_starts(height, tile, step):
        for left in tile_starts(width, tile, step):
            yield top, left, min(top + tile, height), min(left + tile, width)


def predict_tiled(
    backend: Any,
    frame: np.ndarray,
    preprocess: Callable[[np.ndarray], np.ndarray],
    multiple: int,
    batch_size: int,
    tile_size: int,
    overlap: int,
) -> np.ndarray:
    """Blended probabilities (H, W, K) float32 of one uint8 (H, W, C) frame."""
    height, width = frame.shape[:2]
    tile, step = tile_geometry(tile_size, overlap, multiple)
    boxes = list(tiles(height, width, tile, step))
    weighted: np.ndarray | None = None
    total = np.zeros((height, width, 1), np.float32)
    crops = ((box, frame[box[0] : box[2], box[1] : box[3]]) for box in boxes)
    for (top, left, bottom, right), _, probs in predict_frames(
        backend, crops, preprocess, multiple, batch_size
    ):
        if weighted is None:
            weighted = np.zeros((height, width, probs.shape[-1]), np.float32)
        weight = np.outer(ramp(bottom - top, overlap), ramp(right - left, overlap))[..., None]
        weighted[top:bottom, left:right] += probs * weight
        total[top:bottom, left:right] += weight
    assert weighted is not None  # a frame has at least one tile
    weighted /= total
    return weighted
