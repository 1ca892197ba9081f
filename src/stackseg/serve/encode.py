"""The answers of POST /predict, from one frame's probabilities (H, W, K).

- `png` (default): infer's channel masks (probability >= the card's class threshold -> 255) as
  prepare writes mask PNGs: channel k = class k, L for one class, RGB for 2-3 (unused
  channels 0), RGBA for 4 (`contracts.mask_png_channels`). The same pixels as the
  `--png` masks of `stackseg infer`.
- `tiff`: the same masks as one page of infer's mask stack: (H, W) for one class, else
  (H, W, K) with the classes as samples; zlib. With probabilities, a second series holds
  them as float16 (H, W, K): `tifffile.imread(data, series=1)`.
- `json`: `classes`, `thresholds` (per class), `height`, `width`, `fractions` (per class,
  the share of pixels at or above its threshold) and `masks`: per class a COCO-style uncompressed RLE,
  `{"size": [H, W], "counts": [...]}`, runs alternating background/foreground starting
  with background, over the pixels in column-major (Fortran) order, as pycocotools'
  `frPyObjects` reads it. With probabilities, `probabilities`: `{"dtype": "float16",
  "shape": [H, W, K], "data": base64 of the C-order little-endian bytes}`. For a model of
  instance labels, `objects` (their count) and `labels`: the label image as runs of equal
  ids, `{"size": [H, W], "values": [...], "counts": [...]}` (column-major, as `masks`).
- `labels` (models of instance labels): the frame's instance labels as a 16-bit gray PNG,
  0 = background, 1..N the objects (infer's `<name>.labels.tif` page).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from stackseg.contracts import mask_png_channels
from stackseg.infer.outputs import channel_masks

FORMATS = ("png", "tiff", "json", "labels")
MEDIA_TYPES = {
    "png": "image/png",
    "tiff": "image/tiff",
    "json": "application/json",
    "labels": "image/png",
}


def png_mask(masks: np.ndarray) -> np.ndarray:
    """(H, W, K) 0/255 masks as prepare's mask PNG channels (L, RGB or RGBA)."""
    classes = masks.shape[-1]
    if classes == 1:
        return masks[..., 0]
    padding = mask_png_channels(classes) - classes
    if padding:
        masks = np.concatenate([masks, np.zeros((*masks.shape[:2], padding), np.uint8)], -1)
    return masks


def png(probs: np.ndarray, threshold: float | np.ndarray) -> bytes:
    import imagecodecs

    mask = png_mask(channel_masks(probs, threshold))
    return bytes(imagecodecs.png_encode(np.ascontiguousarray(mask), level=1))


def labels_png(labels: np.ndarray) -> bytes:
    """(H, W) uint16 instance labels as a 16-bit gray PNG."""
    import imagecodecs

    return bytes(imagecodecs.png_encode(np.ascontiguousarray(labels, np.uint16), level=1))


def tiff(probs: np.ndarray, threshold: float | np.ndarray, probabilities: bool) -> bytes:
    import tifffile

    masks = channel_masks(probs, threshold)
    layers = masks.shape[-1] > 1
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        writer.write(
            masks if layers else masks[..., 0],
            photometric="minisblack",
            compression="zlib",
            compressionargs={"level": 1},
            planarconfig="contig" if layers else None,
            metadata={"axes": "YXS" if layers else "YX"},
        )
        if probabilities:
            writer.write(
                probs.astype(np.float16),
                photometric="minisblack",
                planarconfig="contig",
                metadata={"axes": "YXS"},
            )
    return buffer.getvalue()


def rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE of a (H, W) boolean mask (column-major, background first)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def labels_rle(labels: np.ndarray) -> dict[str, Any]:
    """Runs of equal ids of a (H, W) label image, column-major: `values[i]` repeated
    `counts[i]` times."""
    flat = np.asarray(labels).ravel(order="F")
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    counts = np.diff(np.concatenate([starts, [flat.size]]))
    return {
        "size": [int(labels.shape[0]), int(labels.shape[1])],
        "values": flat[starts].tolist() if flat.size else [],
        "counts": counts.tolist() if flat.size else [],
    }


def from_labels_rle(encoded: dict[str, Any]) -> np.ndarray:
    """The (H, W) uint16 label image of `labels_rle`."""
    height, width = encoded["size"]
    flat = np.repeat(np.asarray(encoded["values"], np.uint16), encoded["counts"])
    return flat.reshape((height, width), order="F")


def from_rle(encoded: dict[str, Any]) -> np.ndarray:
    """The (H, W) boolean mask of `rle` (for clients and tests)."""
    height, width = encoded["size"]
    values = np.zeros(height * width, dtype=bool)
    position = 0
    for index, count in enumerate(encoded["counts"]):
        if index % 2:
            values[position : position + count] = True
        position += count
    return values.reshape((height, width), order="F")


def as_json(
    probs: np.ndarray,
    threshold: float | np.ndarray,
    classes: list[str],
    probabilities: bool,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    present = probs >= threshold
    per_class = np.broadcast_to(np.asarray(threshold, dtype=np.float32), (len(classes),))
    answer: dict[str, Any] = {
        "classes": classes,
        "thresholds": [round(float(t), 6) for t in per_class],
        "height": int(probs.shape[0]),
        "width": int(probs.shape[1]),
        "fractions": {name: float(present[..., k].mean()) for k, name in enumerate(classes)},
        "masks": {name: rle(present[..., k]) for k, name in enumerate(classes)},
    }
    if labels is not None:  # ids are 1..N: the largest is the count
        answer["objects"] = int(labels.max()) if labels.size else 0
        answer["labels"] = labels_rle(labels)
    if probabilities:
        data = np.ascontiguousarray(probs.astype("<f2")).tobytes()
        answer["probabilities"] = {
            "dtype": "float16",
            "shape": list(probs.shape),
            "data": base64.b64encode(data).decode("ascii"),
        }
    return answer
