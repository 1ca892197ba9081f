"""Mask frames to one 8-bit 0/255 channel per class, checking the declared format.

Three input formats (params `prepare.mask_format`):
- `channels`: (H, W, K) with one binary channel per class ((H, W) when K == 1). A pixel is
  in class k when channel k is non-zero; allowed values are 0 and 1, or 0 and the largest
  value of the type (255 for uint8, 65535 for uint16), or False/True.
- `index`: (H, W) integer class indices, 0 = background and k = 1..K = class k-1.
- `labels`: (H, W) instance ids, 0 = background (labels.py): class 0 = every object pixel
  and, with 2 classes (`labels_boundary`, the config's rule), class 1 = boundary pixels;
  `with_ids` returns the frame's object ids as well.

The output is laid out for PNG as `contracts.mask_png_channels` says: 1 class -> (H, W)
grayscale, 2-3 classes -> (H, W, 3) RGB, 4 classes -> (H, W, 4) RGBA; class k is channel k
in RGB(A) order, unused channels are 0.
"""

from __future__ import annotations

import cv2
import numpy as np

from stackseg.contracts import mask_png_channels
from stackseg.prepare import labels


class MaskValueError(Exception):
    """A frame holds values outside the declared format; the message says which."""


def _foreground_value(dtype: np.dtype) -> int | float | None:
    """The non-zero value besides 1 that a binary channel may use."""
    if dtype.kind == "u":
        return int(np.iinfo(dtype).max)
    return None


def _format_values(values: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:limit].tolist())
    return shown + (", ..." if values.size > limit else "")


class MaskConverter:
    """Converts and checks the mask frames of stacks with the same dtype and format."""

    def __init__(self, mask_format: str, n_classes: int, dtype: str, reuse_output: bool = False):
        """With `reuse_output` the returned array may be overwritten by the next call (or be
        the input frame itself): for callers that are done with it before the next frame."""
        self.mask_format = mask_format
        self.n_classes = n_classes
        self.dtype = np.dtype(dtype)
        self.out_channels = mask_png_channels(n_classes)
        self.reuse_output = reuse_output
        self._zeros: np.ndarray | None = None
        self._out: np.ndarray | None = None
        # uint8 binary channels that mix 1 and 255: one table lookup maps 1 and 255 to 255
        # and any other non-zero value to 1, a marker that the pixel sums reveal
        self._normalise = np.ones(256, dtype=np.uint8)
        self._normalise[0] = 0
        self._normalise[[1, 255]] = 255

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """(PNG-ready uint8 array, foreground pixel count per class) or MaskValueError."""
        if self.mask_format == "labels":
            mask, counts, _ids = self.with_ids(frame)
            return mask, counts
        if self.mask_format == "index":
            return self._assemble(self._from_index(frame))
        if frame.dtype == np.uint8:
            return self._from_uint8_channels(frame)
        return self._assemble(self._from_channels(frame))

    def with_ids(self, frame: np.ndarray) -> tuple[np.ndarray, list[int], np.ndarray | None]:
        """As a call, plus the frame's uint16 object ids for `labels` (None otherwise)."""
        if self.mask_format != "labels":
            return (*self(frame), None)
        try:
            ids = labels.relabel(labels.check(frame))
        except labels.LabelValueError as exc:
            raise MaskValueError(str(exc)) from None
        planes = [(ids != 0).view(np.uint8) * np.uint8(255)]
        if self.n_classes == 2:  # labels_boundary: the config asks for exactly 2 classes
            planes.append(labels.boundaries(ids).view(np.uint8) * np.uint8(255))
        mask, counts = self._assemble(planes)
        return mask, counts, ids

    def _from_uint8_channels(self, frame: np.ndarray) -> tuple[np.ndarray, list[int]]:
        height, width = frame.shape[:2]
        flat = frame.reshape(height, -1)
        # Two reductions tell the usual cases apart without touching pixels again: every
        # non-zero value is >= 1 and <= 255, so sum == nonzero means all are 1 and
        # sum == 255 * nonzero means all are 255.
        sums = cv2.sumElems(frame)
        total, nonzero = sum(sums), cv2.countNonZero(flat)
        if total == nonzero:  # 0/1 masks
            # OpenCV's type stubs lack the scalar form of the second operand
            out = cv2.compare(flat, 0, cv2.CMP_GT, dst=self._output(flat))  # type: ignore[call-overload]
            normalised, counts = out.reshape(frame.shape), [int(t) for t in sums]
        elif total == 255 * nonzero:  # already 0/255
            normalised, counts = frame, [int(t) // 255 for t in sums]
            if not self.reuse_output:
                normalised = normalised.copy()
        else:  # 1 and 255 mixed, or values outside the format
            normalised = cv2.LUT(frame, self._normalise).reshape(frame.shape)
            # per class: sum = 255 * foreground + markers; all channels: nonzero = fg + markers
            sums = cv2.sumElems(normalised)
            markers = (255 * cv2.countNonZero(normalised.reshape(height, -1)) - sum(sums)) / 254
            if markers:
                self._raise_channels(frame)
            counts = [int(t) // 255 for t in sums]
        counts = counts[: self.n_classes]
        if self.n_classes == 1:
            return normalised.reshape(height, width), counts
        if self.n_classes == self.out_channels:
            return normalised, counts
        planes = list(cv2.split(normalised))
        return self._pad(planes), counts

    def _output(self, like: np.ndarray) -> np.ndarray | None:
        """A buffer for the next result when outputs may be reused (None: a new array)."""
        if not self.reuse_output:
            return None
        if self._out is None or self._out.shape != like.shape:
            self._out = np.empty_like(like)
        return self._out

    def _from_channels(self, frame: np.ndarray) -> list[np.ndarray]:
        if frame.ndim == 2:
            frame = frame[..., None]
        nonzero = frame != 0
        if frame.dtype != np.bool_:
            bad = nonzero & (frame != 1)
            top = _foreground_value(frame.dtype)
            if top is not None:
                bad &= frame != top
            if bad.any():
                self._raise_channels(frame)
        return [
            np.ascontiguousarray(nonzero[..., k]).view(np.uint8) * np.uint8(255)
            for k in range(frame.shape[-1])
        ]

    def _raise_channels(self, frame: np.ndarray) -> None:
        values = np.unique(frame)
        top = _foreground_value(frame.dtype)
        allowed = {0, 1} | ({top} if top is not None else set())
        bad = np.array([v for v in values.tolist() if v not in allowed])
        also = f", or 0 and {top}" if top is not None else ""
        raise MaskValueError(
            f"mask values {_format_values(bad)} are not binary "
            f"(prepare.mask_format=channels: each class channel holds 0 and 1{also})"
        )

    def _from_index(self, frame: np.ndarray) -> list[np.ndarray]:
        bad = frame > self.n_classes
        if frame.dtype.kind == "i":
            bad |= frame < 0
        if bad.any():
            values = np.unique(frame[bad])
            raise MaskValueError(
                f"class index {_format_values(values)} outside 0..{self.n_classes} "
                f"(prepare.mask_format=index: 0 = background, 1..{self.n_classes} = "
                f"the {self.n_classes} classes in params)"
            )
        return [(frame == k + 1).view(np.uint8) * np.uint8(255) for k in range(self.n_classes)]

    def _assemble(self, planes: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
        counts = [cv2.countNonZero(plane) for plane in planes]
        if self.out_channels == 1:
            return planes[0], counts
        return self._pad(planes), counts

    def _pad(self, planes: list[np.ndarray]) -> np.ndarray:
        missing = self.out_channels - len(planes)
        if missing:
            if self._zeros is None or self._zeros.shape != planes[0].shape:
                self._zeros = np.zeros_like(planes[0])
            planes = [*planes, *([self._zeros] * missing)]
        return cv2.merge(planes)
