"""Plain data passed between the prepare stage and its worker processes.

Kept free of heavy imports: the parent process imports only this module, and the workers
import the pixel code (`tiff_io`, `worker`) through the two small entry functions at the
bottom, so the parent never loads tifffile, OpenCV or the codecs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.metadata import version

SPLITS = ("train", "val", "test")
IMAGE_SUFFIX = ".jpg"
MASK_SUFFIX = ".png"

# Codec settings (see encode.py); part of the manifest and of its fingerprint.
JPEG_SUBSAMPLING = "444"
PNG_LEVEL = 1
PNG_STRATEGY_RLE = 3
PNG_FILTER_SUB = 16
# TIFF compression code of LZW, whose strips the C decoder reads (pages.py, _lzw.c)
LZW_COMPRESSION = 5
# content hash of the raw files (hashing.py), recorded as each stack's source_hash
HASH_ALGORITHM = "xxh3-128"


@dataclass(frozen=True)
class DirectPages:
    """Where each page's bytes are, for reading without tifffile (see pages.py): pages
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
    """Where the frames of a stack are, read from metadata only (see tiff_io)."""

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
    # set when the pages can be read without tifffile (pages.py); not part of comparisons
    direct: DirectPages | None = field(default=None, compare=False, repr=False)

    @property
    def size_text(self) -> str:
        return f"{self.height}x{self.width}"


@dataclass(frozen=True)
class Inspection:
    """read_layout's answer for one file: a layout (and the file's content hash) or the
    problem."""

    path: str
    layout: StackLayout | None
    problem: str | None
    content_hash: str | None = None


@dataclass(frozen=True)
class PreviousStack:
    """A stack as the previous complete output holds it, for reuse when unchanged."""

    source_hash: str
    root: str
    pairs: tuple[dict, ...]
    scaling: dict


@dataclass(frozen=True)
class StackJob:
    """Frames [first, stop) of one stack (stop None: to the end). Only a whole-stack job
    carries `previous`, the stack's pairs in the previous output, for reuse."""

    name: str
    image: StackLayout
    mask: StackLayout
    splits: tuple[str, ...]  # one per frame of the stack
    out_root: str
    jpeg_quality: int
    mask_format: str
    n_classes: int
    low_percentile: float
    high_percentile: float
    source_hash: str = ""  # empty: this job hashes the source files (see jobs.py)
    first: int = 0
    stop: int | None = None
    previous: PreviousStack | None = None

    @property
    def frame_range(self) -> range:
        return range(self.first, self.image.frames if self.stop is None else self.stop)


@dataclass
class StackResult:
    name: str
    first: int = 0
    frames: int = 0  # frames handled (for progress)
    source_hash: str = ""
    scaling: dict = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)
    # (file, frame, message) for every problem found; the parent turns them into lines
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    reused: bool = False


def source_hash(image_hash: str, mask_hash: str) -> str:
    """What identifies a stack's content: the hashes of its image and mask files."""
    return f"{HASH_ALGORITHM}:{image_hash}:{mask_hash}"


def frame_stem(stack: str, frame: int, frames: int) -> str:
    """`<stack>_f0042`: at least 4 digits, more when the stack has more frames."""
    digits = max(4, len(str(max(frames - 1, 0))))
    return f"{stack}_f{frame:0{digits}d}"


def pair_paths(stack: str, frame: int, frames: int, split: str) -> tuple[str, str]:
    """Image and mask paths of one pair, relative to the prepared directory."""
    stem = frame_stem(stack, frame, frames)
    return (
        f"{split}/images/{stem}{IMAGE_SUFFIX}",
        f"{split}/masks/{stem}{MASK_SUFFIX}",
    )


def codec_description(jpeg_quality: int) -> dict:
    """What produced the bytes (recorded in the manifest and part of its fingerprint)."""
    return {
        "jpeg": {
            "encoder": f"simplejpeg {version('simplejpeg')}",
            "quality": jpeg_quality,
            "subsampling": "4:4:4",
        },
        "png": {
            "encoder": f"imagecodecs {version('imagecodecs')}",
            "zlib_level": PNG_LEVEL,
            "strategy": "rle",
            "filter": "sub",
        },
    }


def fast_lzw_missing(layouts) -> bool:
    """True if some of the stacks are LZW-compressed and the C decoder (pages.py) cannot be
    imported: not built, or built for another Python (the module itself is tiny)."""
    if not any(
        layout.direct is not None and layout.direct.compression == LZW_COMPRESSION
        for layout in layouts
    ):
        return False
    try:
        import stackseg.data._lzw  # noqa: F401
    except ImportError:
        return True
    return False


def inspect_file(path: str, class_axis_size: int | None, content_hash: bool = True) -> Inspection:
    """Metadata of one raw file, and its content hash if asked (runs in a worker process)."""
    from stackseg.data.hashing import file_hash
    from stackseg.data.tiff_io import LayoutError, read_layout

    try:
        layout = read_layout(path, class_axis_size)
        return Inspection(path, layout, None, file_hash(path) if content_hash else None)
    except LayoutError as exc:
        return Inspection(path, None, str(exc))
    except OSError as exc:
        return Inspection(path, None, f"cannot read file ({exc.strerror or exc})")


def run_stack(job: StackJob) -> StackResult:
    """Prepare (or reuse) one stack (runs in a worker process)."""
    from stackseg.data.worker import process_stack

    return process_stack(job)
