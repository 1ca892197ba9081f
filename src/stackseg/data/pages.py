"""Direct access to the pages of the common TIFF layouts, without tifffile's per-page work.

Parsing a page's TIFF directory and going through tifffile's generic decode path costs
more than the pixels of a 256 x 256 mask. For the layouts stacks usually have, where the
pixels of a page sit in one uncompressed block or in strips of a lossless codec, the
metadata pass (tiff_io.read_layout) records where every page's bytes are; a worker then
reads a frame with one pread per strip and decodes it with tifffile's own decompressor
straight into a buffer it reuses. A fresh 200 kB array per frame costs page faults that
are as expensive as the LZW decoding itself. Anything else (tiles, predictors, JPEG,
bit-packed data, compressed planar data, multi-byte samples in foreign byte order, sparse
strips) goes through tifffile as before.

LZW strips in the TIFF 6 form are decoded by this package's own C decoder (`_lzw.c`,
built at install), about 3.5x as fast as tifffile's on the demo masks; without it (no C
compiler at install time) they go to tifffile's decompressor, and prepare warns.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from stackseg.data.plan import LZW_COMPRESSION, DirectPages

try:
    from stackseg.data._lzw import tiff_lzw_decode
except ImportError:  # built without a C compiler: tifffile's decoder (plan.fast_lzw_missing)
    tiff_lzw_decode = None

# Lossless codecs whose strips tifffile decodes with one call: LZW, Adobe Deflate,
# Deflate, Zstd (both codes).
STRIP_CODECS = (LZW_COMPRESSION, 8, 32946, 34926, 50000)
NATIVE = "<" if sys.byteorder == "little" else ">"


def plan_direct(tif, series) -> DirectPages | None:
    """A DirectPages for the series if its layout allows it, else None (use tifffile)."""
    keyframe, pages = series.keyframe, series.pages
    dtype = np.dtype(series.dtype)
    if dtype.itemsize > 1 and tif.byteorder != NATIVE:
        return None
    shape = tuple(int(n) for n in keyframe.shape)
    if series.dataoffset is not None and keyframe.is_memmappable and hasattr(os, "preadv"):
        return DirectPages(shape, dtype.str, dtype.itemsize, offset=int(series.dataoffset))
    if (
        (keyframe.planarconfig != 1 and keyframe.samplesperpixel > 1)  # strips per channel
        or keyframe.compression not in STRIP_CODECS
        or keyframe.predictor != 1
        or keyframe.is_tiled
        or keyframe.fillorder != 1
        or keyframe.bitspersample != dtype.itemsize * 8
    ):
        return None
    strips = []
    for page in pages:
        offsets, counts = page.dataoffsets, page.databytecounts
        if not offsets or len(offsets) != len(pages[0].dataoffsets):
            return None
        if 0 in offsets or 0 in counts:  # sparse (empty) strips: tifffile fills them
            return None
        strips.append(tuple((int(o), int(c)) for o, c in zip(offsets, counts, strict=True)))
    return DirectPages(
        shape,
        dtype.str,
        dtype.itemsize,
        compression=int(keyframe.compression),
        rows_per_strip=int(min(keyframe.rowsperstrip, shape[0])),
        strips=tuple(strips),
    )


class DirectPageReader:
    """Reads pages as DirectPages describes; with `reuse` every page lands in one buffer,
    so a page is only valid until the next read."""

    def __init__(self, path: str, plan: DirectPages, reuse: bool = False):
        self.plan, self.reuse = plan, reuse
        self._buffer: np.ndarray | None = None
        if plan.offset is None:
            from tifffile import TIFF

            self._decompress = TIFF.DECOMPRESSORS[plan.compression]
            if plan.compression == LZW_COMPRESSION and tiff_lzw_decode is not None:
                self._decompress = _lzw_decoder(self._decompress)
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
            if os.preadv(self._fd, [data], plan.offset + index * plan.nbytes) != plan.nbytes:
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


def _lzw_decoder(fallback):
    """decompress(encoded, out) through _lzw.c; the old LSB-first LZW (a stream starting
    with bytes 0x00, then an odd byte) goes to `fallback`, tifffile's decoder."""

    def decompress(encoded: bytes, out: np.ndarray) -> np.ndarray:
        if encoded[:1] == b"\x00" and len(encoded) > 1 and encoded[1] & 1:
            return fallback(encoded, out=out)
        return out[: tiff_lzw_decode(encoded, out)]

    return decompress
