"""The pixels of a raw stack, one frame at a time, as its layout (tiff.py) describes.

Parsing a page's TIFF directory and going through tifffile's generic decode path costs
more than the pixels of a 256 x 256 mask. When the layout records where every page's bytes
are (`DirectPages`), a frame is read with one pread per strip and decoded with tifffile's
own decompressor (imagecodecs) straight into a buffer that is reused: a fresh 200 kB array
per frame costs page faults that are as expensive as the LZW decoding itself. Anything else
(tiles, predictors, JPEG, bit-packed data, compressed planar data, multi-byte samples in
foreign byte order, sparse strips) goes through tifffile.
"""

from __future__ import annotations

import os

import numpy as np

from stackseg.prepare.layout import DirectPages, StackLayout
from stackseg.prepare.tiff import open_tiff


class DirectPageReader:
    """Reads pages as DirectPages describes; with `reuse` every page lands in one buffer,
    so a page is only valid until the next read."""

    def __init__(self, path: str, plan: DirectPages, reuse: bool = False):
        self.plan, self.reuse = plan, reuse
        self._buffer: np.ndarray | None = None
        if plan.offset is None:
            from tifffile import TIFF

            # imagecodecs' decoders, writing straight into the buffer
            self._decompress = TIFF.DECOMPRESSORS[plan.compression]
        self._fd = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        os.close(self._fd)

    def read(self, index: int) -> np.ndarray:
        plan = self.plan
        if self.reuse:
            if self._buffer is None:
                self._buffer = np.empty(plan.nbytes, np.uint8)
            data = self._buffer
        else:
            data = np.empty(plan.nbytes, np.uint8)
        if plan.offset is not None:
            read = os.preadv(self._fd, [data.data], plan.offset + index * plan.nbytes)
            if read != plan.nbytes:
                raise ValueError(f"page {index} is cut short (file truncated?)")
        else:
            self._decode_strips(index, data)
        return data.view(plan.dtype).reshape(plan.shape)

    def _decode_strips(self, index: int, data: np.ndarray) -> None:
        plan = self.plan
        row_bytes = plan.nbytes // plan.shape[0]
        start = 0
        for strip, (offset, count) in enumerate(plan.strips[index]):
            size = min(plan.rows_per_strip * row_bytes, plan.nbytes - start)
            encoded = os.pread(self._fd, count, offset)
            if len(encoded) != count:
                raise ValueError(f"page {index} strip {strip} is cut short (file truncated?)")
            decoded = self._decompress(encoded, out=data[start : start + size])
            if len(decoded) != size:
                raise ValueError(
                    f"page {index} strip {strip} decodes to {len(decoded)} bytes, expected {size}"
                )
            start += size


class StackReader:
    """Random access to the frames of one stack; only one frame is in memory at a time.

    With `reuse_buffer` a frame read by the direct path (DirectPageReader) lives in a buffer
    that the next read overwrites: for callers that are done with a frame before reading
    the next one.
    """

    def __init__(self, layout: StackLayout, reuse_buffer: bool = False):
        self.layout = layout
        outer = list(layout.outer_shape)
        if layout.channel_axis is not None:
            del outer[layout.channel_axis]
        self._frame_shape = tuple(outer)
        self._tif = self._direct = None
        if layout.direct is not None:
            # a frame of channels stored in separate pages needs each page kept
            reuse = reuse_buffer and layout.channel_axis is None
            self._direct = DirectPageReader(layout.path, layout.direct, reuse)
        else:
            self._tif, _ = open_tiff(layout.path, shaped=layout.shaped)
            self._pages = self._tif.series[0].pages

    def __enter__(self) -> StackReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._tif is not None:
            self._tif.close()
        if self._direct is not None:
            self._direct.close()

    def _page(self, index: int) -> np.ndarray:
        if self._direct is not None:
            return self._direct.read(index)
        page = self._pages[index]
        if page is None:
            raise ValueError(f"page {index} is missing")
        return page.asarray()

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W) or (H, W, C), C-contiguous, in the file's dtype."""
        layout = self.layout
        if layout.channel_axis is None:
            data = self._page(index)
            if layout.page_channels == "first":
                data = data.transpose(1, 2, 0)
            return np.ascontiguousarray(data)
        position = (
            [int(i) for i in np.unravel_index(index, self._frame_shape)]
            if self._frame_shape
            else []
        )
        planes = []
        for channel in range(layout.channels):
            where = [*position]
            where.insert(layout.channel_axis, channel)
            page_index = int(np.ravel_multi_index(where, layout.outer_shape))
            planes.append(self._page(page_index))
        return np.stack(planes, axis=-1)
