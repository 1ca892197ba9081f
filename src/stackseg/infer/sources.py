"""The inputs of `stackseg infer`: which files, and their frames as the model's 8-bit input.

Every argument is a file or a folder. A folder stands for the image files directly inside
it, sorted by name, each one an input of its own (one output per file, named after it):
a folder of TIFF stacks and a folder of PNGs work alike, and no two files are ever glued
into one stack. Other files in a folder (notes, sidecars) are skipped; a file named on the
command line must be an image.

- TIFF (`.tif`, `.tiff`; single page or multi-page) goes through prepare's own reader
  (`prepare.tiff.read_layout`, `prepare.frames.StackReader`): every layout, type and codec
  prepare accepts, and prepare's one-line errors for the rest.
- PNG and JPEG are one-frame stacks, decoded by OpenCV as evaluate decodes prepared images
  (so a prepared JPEG gives the very pixels evaluate predicted on).

uint16 and float stacks are brought to 8 bits by the model's rule (the card's
`prepared_scaling`, from `prepare.scaling`): the training or fixed rule's one window, or for
the stack rule a streaming statistics pass over all frames of the stack (`StackStatistics`,
the same passes as prepare's) and that stack's own window; the frames are scaled as the
predict pass reads them. A frame is (H, W, C) uint8 with C the model card's input channels;
another channel count is refused (a gray model is not an RGB model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from stackseg.errors import InputDataError
from stackseg.prepare.scaling import Scaler, ScaleWindow, StackStatistics, needs_scaling

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SUFFIXES = TIFF_SUFFIXES + IMAGE_SUFFIXES


class FrameReader(Protocol):
    frames: int
    height: int
    width: int
    channels: int
    dtype: str

    def frame(self, index: int) -> np.ndarray: ...

    def close(self) -> None: ...


def find_inputs(arguments: list[str]) -> list[Path]:
    """The input files: files as given, folders expanded to their image files (sorted)."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
            )
            if not files:
                raise InputDataError(
                    f"{path}: no image files in this folder (expected {', '.join(SUFFIXES)})"
                )
            found += files
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise InputDataError(
                    f"{path}: not an image file this command reads (expected {', '.join(SUFFIXES)})"
                )
            found.append(path)
        else:
            raise InputDataError(f"{path}: not found")
    return found


def output_name(path: Path) -> str:
    """The input's name without its image suffix: `cells.ome.tif` -> `cells.ome`."""
    return path.name[: -len(path.suffix)] if path.suffix.lower() in SUFFIXES else path.name


def check_unique_names(paths: list[Path]) -> None:
    """Two inputs with the same name would write the same outputs: refuse before any work."""
    seen: dict[str, Path] = {}
    for path in paths:
        name = output_name(path)
        if name in seen:
            raise InputDataError(
                f"{path}: same output name {name!r} as {seen[name]}; run them with separate --out"
            )
        seen[name] = path


@dataclass
class _TiffReader:
    """A stack through prepare's reader (one frame in memory at a time)."""

    path: Path

    def __post_init__(self) -> None:
        from stackseg.prepare.frames import StackReader
        from stackseg.prepare.tiff import LayoutError, read_layout

        try:
            layout = read_layout(str(self.path))
        except LayoutError as exc:
            raise InputDataError(f"{self.path}: {exc}") from None
        self.frames, self.height, self.width = layout.frames, layout.height, layout.width
        self.channels, self.dtype = layout.channels, layout.dtype
        self.axes = layout.axes
        self._reader = StackReader(layout)

    def frame(self, index: int) -> np.ndarray:
        return self._reader.frame(index)

    def close(self) -> None:
        self._reader.close()


@dataclass
class _ImageReader:
    """A PNG or JPEG as a one-frame stack (OpenCV, RGB channel order); `data`: the file's
    bytes already in memory (serve's uploads), `path` then only names it in errors."""

    path: Path
    data: bytes | None = None

    def __post_init__(self) -> None:
        import cv2

        if self.data is None:
            data = np.fromfile(self.path, dtype=np.uint8)
        else:
            data = np.frombuffer(self.data, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if image is None:
            raise InputDataError(f"{self.path}: not a readable PNG or JPEG image (damaged?)")
        if image.ndim == 3 and image.shape[-1] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        elif image.ndim == 3 and image.shape[-1] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
        self._image = image if image.ndim == 3 else image[..., None]
        self.frames = 1
        self.height, self.width, self.channels = self._image.shape
        self.dtype = self._image.dtype.name
        self.axes = "YXS"

    def frame(self, index: int) -> np.ndarray:
        return self._image

    def close(self) -> None:
        return None


def open_input(path: Path, data: bytes | None = None) -> _TiffReader | _ImageReader:
    """A reader for one input file (a PNG or JPEG may come as `data`, its bytes);
    InputDataError (one line naming the file) if unusable."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _TiffReader(path)
    return _ImageReader(path, data)


def check_channels(path: Path, reader: FrameReader, channels: int) -> None:
    if reader.channels != channels:
        kind = {1: "gray", 3: "RGB", 4: "RGBA"}.get(reader.channels, f"{reader.channels}-channel")
        raise InputDataError(
            f"{path}: {kind} frames ({reader.channels} channel(s)), the model takes "
            f"{channels}-channel images; convert the input (or use a model trained on such "
            "images)"
        )


def _cannot_decode(path: Path, index: int, exc: Exception) -> InputDataError:
    return InputDataError(
        f"{path}: frame {index}: cannot decode ({type(exc).__name__}: {exc}); the file is "
        "damaged: export it again"
    )


def read_frame(path: Path, reader: FrameReader, index: int) -> np.ndarray:
    """Frame `index` in the file's dtype, (H, W, C); a decoding failure names the frame."""
    try:
        frame = reader.frame(index)
    except InputDataError:
        raise
    except Exception as exc:  # codecs raise many types for damaged data
        raise _cannot_decode(path, index, exc) from None
    return frame if frame.ndim == 3 else frame[..., None]


def statistics_passes(dtype: str) -> int:
    """How many times `stack_window` reads the stack: 0 (uint8), 1 (uint16) or 2."""
    if not needs_scaling(dtype):
        return 0
    return 2 if StackStatistics(dtype, 0.0, 100.0).needs_range_pass else 1


def stack_window(
    path: Path,
    reader: FrameReader,
    low_percentile: float,
    high_percentile: float,
    on_frame: Callable[[], object] = lambda: None,
) -> ScaleWindow | None:
    """Prepare's per-stack window for a uint16/float stack (None for uint8): the same
    streaming passes as prepare's `_scaler` (range for non-uint16, then the histogram)."""
    if not needs_scaling(reader.dtype):
        return None
    stats = StackStatistics(reader.dtype, low_percentile, high_percentile)
    passes = ("range", "histogram") if stats.needs_range_pass else ("histogram",)
    for step in passes:
        for index in range(reader.frames):
            on_frame()
            frame = read_frame(path, reader, index)
            if step == "histogram":
                stats.add_histogram(frame)
            elif bad := stats.add_range(frame):
                raise InputDataError(
                    f"{path}: frame {index}: {bad} NaN/inf pixels (float images must hold "
                    "finite values only)"
                )
    return stats.window()


def scaled_frames(path: Path, reader: FrameReader, scaler: Scaler) -> Iterator[np.ndarray]:
    """Every frame, in order, as uint8 (H, W, C): one frame read at a time."""
    for index in range(reader.frames):
        frame = read_frame(path, reader, index)
        # the stack rule's range pass found NaN/inf already; a given window needs this check
        if scaler.rule != "stack" and frame.dtype.kind == "f":
            bad = int(frame.size - np.count_nonzero(np.isfinite(frame)))
            if bad:
                raise InputDataError(
                    f"{path}: frame {index}: {bad} NaN/inf pixels (float images must hold "
                    "finite values only)"
                )
        yield np.ascontiguousarray(scaler(frame))
