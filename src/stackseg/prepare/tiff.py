"""A raw TIFF stack's frame layout, read from its metadata only (frames.py reads the pixels).

A frame is one position along the stack's non-channel axes. tifffile names the axes of a
stack's first series, e.g. 'QYX' (plain multi-page), 'IYXS' (RGB pages), 'QSYX' (planar
RGB, i.e. channel-first pages), 'TZCYX' (ImageJ hyperstack). Everything left of the page
axes (YX, YXS or SYX) is flattened in C order into frames, except a 'C' axis, which holds
the channels of each frame (ImageJ stores each channel in its own page).

Masks in the per-class channels format may also come as unlabelled 'Q' planes written by
`tifffile.imwrite(mask)` with shape (frames, K, H, W): when the caller passes
`class_axis_size=K` and no channel axis is named, a last outer axis of exactly K planes is
read as the class axis.

For the layouts stacks usually have, where the pixels of a page sit in one uncompressed
block or in strips of a lossless codec, the layout also records where every page's bytes
are (`DirectPages`, see `plan_direct`), so that frames.py can read a frame without
tifffile's per-page work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import sys
from collections.abc import Iterator

import numpy as np
import tifffile

from stackseg.prepare.layout import DirectPages, StackLayout

TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
OTHER_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "a gzip archive",
}
UNLABELLED_AXES = "QI"
# Lossless codecs whose strips tifffile decodes with one call: LZW, Adobe Deflate,
# Deflate, Zstd (both codes).
STRIP_CODECS = (5, 8, 32946, 34926, 50000)
NATIVE = "<" if sys.byteorder == "little" else ">"


class LayoutError(Exception):
    """The file cannot be used as a stack; the message says why (no file name)."""


def check_signature(path: str) -> None:
    """Refuse empty files and files that are not TIFF before tifffile sees them."""
    size = os.path.getsize(path)
    if size == 0:
        raise LayoutError("empty file (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[:4] in TIFF_SIGNATURES:
        return
    for signature, kind in OTHER_SIGNATURES.items():
        if head.startswith(signature):
            raise LayoutError(f"not a TIFF file (it is {kind}); convert it to TIFF")
    raise LayoutError(f"not a TIFF file (starts with bytes {head[:4]!r})")


class _Collect(logging.Handler):
    """Keeps tifffile's complaints about damaged files instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # tifffile logs broken IFD chains as errors or as warnings about offsets; other
        # warnings (odd tags, unusual metadata) do not make the pixels unusable.
        if record.levelno >= logging.ERROR or "offset" in message:
            self.messages.append(message.split("> ", 1)[-1])


@contextlib.contextmanager
def _tifffile_damage_log() -> Iterator[list[str]]:
    logger = logging.getLogger("tifffile")
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def read_layout(path: str, class_axis_size: int | None = None) -> StackLayout:
    """The stack's layout from its metadata; LayoutError says what is wrong with it."""
    check_signature(path)
    with _tifffile_damage_log() as damage:
        try:
            tif, shaped = open_tiff(path)
            with tif:
                layout = _layout(tif, path, class_axis_size, shaped)
                _check_data_in_file(tif, os.path.getsize(path))
                layout = dataclasses.replace(layout, direct=plan_direct(tif, tif.series[0]))
        except LayoutError:
            if damage:
                raise LayoutError(f"damaged or truncated TIFF ({damage[0]})") from None
            raise
        except Exception as exc:  # tifffile raises many types for broken files
            detail = damage[0] if damage else f"{type(exc).__name__}: {exc}"
            raise LayoutError(f"cannot read TIFF ({detail})") from None
    if damage:
        raise LayoutError(f"damaged or truncated TIFF ({damage[0]})")
    return layout


def open_tiff(path: str, shaped: bool | None = None) -> tuple[tifffile.TiffFile, bool]:
    """Open a stack; frames written one `TiffWriter.write` call each become one series.

    tifffile gives every such call its own "shaped" series (slow to parse, and only the
    first is the image); reading the file's uniform pages as one series is what we want.
    """
    if shaped is False:
        return tifffile.TiffFile(path, is_shaped=False), False
    tif = tifffile.TiffFile(path)
    if shaped is None and tif.is_shaped and _several_shaped_series(tif):
        tif.close()
        return tifffile.TiffFile(path, is_shaped=False), False
    return tif, True


def _several_shaped_series(tif: tifffile.TiffFile) -> bool:
    description = tif.pages.first.shaped_description
    if description is None:
        return False
    first = tif.pages.first
    try:
        shape = tifffile.tifffile.shaped_description_metadata(description)["shape"]
    except Exception:  # unreadable description: let the series parser report it
        return False
    page_size = math.prod(first.shape)
    return page_size > 0 and math.prod(shape) // page_size < len(tif.pages)


def _layout(
    tif: tifffile.TiffFile, path: str, class_axis_size: int | None, shaped: bool
) -> StackLayout:
    if not tif.series or not tif.series[0].shape or not len(tif.series[0].pages):
        raise LayoutError("empty stack: no image pages")
    if len(tif.series) > 1:
        shapes = ", ".join(f"{s.shape} {s.dtype}" for s in tif.series[:3])
        raise LayoutError(
            f"frames differ in size or type ({len(tif.series)} series: {shapes}); "
            "all frames of a stack must have the same size and type"
        )
    series = tif.series[0]
    page = series.keyframe
    axes, shape = series.axes, tuple(series.shape)
    page_axes, page_shape = page.axes, tuple(page.shape)
    # (frames, H, W, 1) as tifffile.imwrite writes it: axes 'QYXQ', a trailing axis of one
    # plane that holds nothing; read as the (frames, H, W) stack it is
    while len(axes) > len(page_axes) and not axes.endswith(page_axes) and shape[-1] == 1:
        axes, shape = axes[:-1], shape[:-1]
    if page_axes not in ("YX", "YXS", "SYX") or not axes.endswith(page_axes):
        raise LayoutError(f"unsupported layout: axes {axes!r}, pages {page_axes!r}")
    if shape[len(shape) - len(page_shape) :] != page_shape:
        raise LayoutError(f"unsupported layout: shape {shape}, pages {page_shape}")
    outer_axes = axes[: len(axes) - len(page_axes)]
    outer_shape = shape[: len(outer_axes)]
    page_channels = {"YX": "", "YXS": "last", "SYX": "first"}[page_axes]
    channel_axis = _channel_axis(outer_axes, outer_shape, page_channels, class_axis_size)
    if page_channels:
        channels = page_shape[-1] if page_channels == "last" else page_shape[0]
    elif channel_axis is not None:
        channels = outer_shape[channel_axis]
    else:
        channels = 1
    pages = math.prod(outer_shape)
    if len(series.pages) != pages:
        raise LayoutError(
            f"damaged or truncated TIFF (metadata describes {pages} pages, "
            f"{len(series.pages)} found)"
        )
    if series.dtype is None:
        raise LayoutError("unsupported pixel type")
    return StackLayout(
        path=path,
        axes=axes,
        frames=pages // (outer_shape[channel_axis] if channel_axis is not None else 1),
        height=int(page.imagelength),
        width=int(page.imagewidth),
        channels=int(channels),
        dtype=np.dtype(series.dtype).name,
        outer_shape=tuple(int(n) for n in outer_shape),
        channel_axis=channel_axis,
        page_channels=page_channels,
        shaped=shaped,
    )


def _channel_axis(
    outer_axes: str, outer_shape: tuple[int, ...], page_channels: str, class_axis_size: int | None
) -> int | None:
    if "C" in outer_axes:
        if page_channels and outer_shape[outer_axes.index("C")] > 1:
            raise LayoutError(f"unsupported layout: channels on two axes ({outer_axes!r} and S)")
        return None if page_channels else outer_axes.index("C")
    if (
        not page_channels
        and class_axis_size
        and class_axis_size > 1
        and outer_axes
        and outer_axes[-1] in UNLABELLED_AXES
        and outer_shape[-1] == class_axis_size
    ):
        return len(outer_axes) - 1
    return None


def _check_data_in_file(tif: tifffile.TiffFile, file_size: int) -> None:
    """A truncated file can still have intact metadata: check where the pixels end."""
    series = tif.series[0]
    if series.dataoffset is not None:
        end = series.dataoffset + series.nbytes
    else:
        end = 0
        for page in series.pages:
            if page is None:
                raise LayoutError("damaged or truncated TIFF (a page cannot be read)")
            offsets, counts = page.dataoffsets, page.databytecounts
            if offsets:
                end = max(end, max(o + c for o, c in zip(offsets, counts, strict=False)))
    if end > file_size:
        raise LayoutError(
            f"truncated: pixel data runs to byte {end:,} but the file has {file_size:,} bytes"
        )


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
