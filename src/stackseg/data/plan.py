"""Plain data passed between the prepare stage and its worker processes.

Kept free of heavy imports: the parent process imports only this module, and the workers
import the pixel code (`tiff_io`, `worker`) through the two small entry functions at the
bottom, so the parent never loads tifffile, OpenCV or the codecs.
"""

from __future__ import annotations

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

    @property
    def size_text(self) -> str:
        return f"{self.height}x{self.width}"


@dataclass(frozen=True)
class Inspection:
    """read_layout's answer for one file: a layout or the problem."""

    path: str
    layout: StackLayout | None
    problem: str | None


@dataclass(frozen=True)
class PreviousStack:
    """A stack as the previous complete output holds it, for reuse when unchanged."""

    source_hash: str
    root: str
    pairs: tuple[dict, ...]
    scaling: dict


@dataclass(frozen=True)
class StackJob:
    name: str
    image: StackLayout
    mask: StackLayout
    splits: tuple[str, ...]  # one per frame
    out_root: str
    jpeg_quality: int
    mask_format: str
    n_classes: int
    low_percentile: float
    high_percentile: float
    previous: PreviousStack | None = None


@dataclass
class StackResult:
    name: str
    source_hash: str = ""
    scaling: dict = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reused: bool = False


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


def inspect_file(path: str, class_axis_size: int | None) -> Inspection:
    """Metadata of one raw file (runs in a worker process)."""
    from stackseg.data.tiff_io import LayoutError, read_layout

    try:
        return Inspection(path, read_layout(path, class_axis_size), None)
    except LayoutError as exc:
        return Inspection(path, None, str(exc))
    except OSError as exc:
        return Inspection(path, None, f"cannot read file ({exc.strerror or exc})")


def run_stack(job: StackJob) -> StackResult:
    """Prepare (or reuse) one stack (runs in a worker process)."""
    from stackseg.data.worker import process_stack

    return process_stack(job)
