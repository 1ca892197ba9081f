"""Where a raw stack's frames are: plain records read from metadata (see tiff.py).

Kept free of heavy imports: the workers send these records back to the parent process,
which unpickles them without loading tifffile, OpenCV or the codecs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DirectPages:
    """Where each page's bytes are, for reading without tifffile (see frames.py): pages
    stored back to back from `offset`, or per page the (offset, bytes) of its strips."""

    shape: tuple[int, ...]  # one page: (H, W) or (H, W, S)
    dtype: str  # numpy dtype string, native byte order
    itemsize: int
    offset: int | None = None  # uncompressed pages stored back to back
    compression: int = 1  # TIFF compression code of the strips
    rows_per_strip: int = 0
    strips: tuple[tuple[tuple[int, int], ...], ...] = ()

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize


@dataclass(frozen=True)
class StackLayout:
    """Where the frames of a stack are, read from metadata only (see tiff.py)."""

    path: str
    axes: str
    frames: int
    height: int
    width: int
    channels: int
    dtype: str
    # sizes of the axes left of the page axes (one page per position)
    outer_shape: tuple[int, ...]
    # position in outer_shape of a channel axis stored across pages, if any
    channel_axis: int | None
    # channels inside each page: "" (none), "last" (YXS) or "first" (SYX)
    page_channels: str
    # False: frames were written one shaped series each; read the pages as one series
    shaped: bool = True
    # set when the pages can be read without tifffile (frames.py); not part of comparisons
    direct: DirectPages | None = field(default=None, compare=False, repr=False)

    @property
    def size_text(self) -> str:
        return f"{self.height}x{self.width}"


@dataclass(frozen=True)
class Inspection:
    """The metadata pass's answer for one file: a layout (and the file's content hash) or
    the problem."""

    path: str
    layout: StackLayout | None
    problem: str | None
    content_hash: str | None = None
