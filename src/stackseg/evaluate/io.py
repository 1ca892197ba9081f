"""Reading prepared pairs (`contracts.Pair`): 8-bit images and per-class 0/255 masks.

Decoding runs in a thread pool (OpenCV releases the GIL), in order, a bounded number of
frames ahead of the consumer, so evaluation streams over any number of test frames.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from stackseg.contracts import Pair, mask_png_channels
from stackseg.errors import InputDataError


def read_image(path: Path, channels: int) -> np.ndarray:
    """uint8 (H, W, channels) in RGB order."""
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flag)
    if image is None:
        raise InputDataError(
            [f"{path}: missing or not a readable image; rerun `dvc repro -f prepare`"]
        )
    if channels == 1:
        return image[..., None]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: Path, n_classes: int) -> np.ndarray:
    """Boolean (H, W, n_classes): channel k of the png (L, RGB or RGBA) is class k."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise InputDataError(
            [f"{path}: missing or not a readable png; rerun `dvc repro -f prepare`"]
        )
    if mask.dtype != np.uint8:
        raise InputDataError([f"{path}: expected an 8-bit mask, got {mask.dtype}"])
    if mask.ndim == 2:
        mask = mask[..., None]
    elif mask.shape[-1] == 3:
        mask = cv2.cvtColor(mask, cv2.COLOR_BGR2RGB)
    elif mask.shape[-1] == 4:
        mask = cv2.cvtColor(mask, cv2.COLOR_BGRA2RGBA)
    expected = mask_png_channels(n_classes)
    if mask.shape[-1] != expected:
        raise InputDataError(
            [
                f"{path}: {mask.shape[-1]} channel(s), a mask of {n_classes} classes has "
                f"{expected}; rerun `dvc repro -f prepare`"
            ]
        )
    return mask[..., :n_classes] > 127


def read_pair(
    prepared: Path, pair: Pair, channels: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    image = read_image(prepared / pair.image, channels)
    mask = read_mask(prepared / pair.mask, n_classes)
    if image.shape[:2] != mask.shape[:2] or image.shape[:2] != (pair.height, pair.width):
        raise InputDataError(
            [
                f"{prepared / pair.image}: image {image.shape[:2]}, mask {mask.shape[:2]} and "
                f"manifest {(pair.height, pair.width)} sizes differ; rerun `dvc repro -f prepare`"
            ]
        )
    return image, mask


def iter_pairs(
    prepared: Path, pairs: Iterable[Pair], channels: int, n_classes: int, workers: int = 0
) -> Iterator[tuple[Pair, np.ndarray, np.ndarray]]:
    """(pair, image, mask) in the given order, decoded by a thread pool a few frames ahead."""
    workers = workers or min(8, os.cpu_count() or 1)
    ahead = 4 * workers
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for pair in pairs:
            pending.append((pair, pool.submit(read_pair, prepared, pair, channels, n_classes)))
            if len(pending) >= ahead:
                done, future = pending.popleft()
                yield (done, *future.result())
        for done, future in pending:
            yield (done, *future.result())
