"""An upload as a file infer's readers open, checked before anything is decoded.

1. `spool`: the upload is copied in chunks to a file in a private temporary folder (the
   name is ours: `upload.png`, `.jpg` or `.tif` after the sniffed kind, never the
   client's filename), so infer's readers (`stackseg.infer.sources`) open it as they open a
   file on the command line, and a stack never has to fit in memory.
2. `sniff`: the kind comes from the first bytes (PNG, JPEG, classic or BigTIFF), not from
   the filename or the content type; anything else is 415.
3. `check_pixels`: the frame size the header declares (PIL's lazy open reads only the
   PNG/JPEG header; tifffile only the first page's tags) against `serve.max_pixels`: a
   few-KB TIFF claiming 60,000 x 60,000 is refused with 413 before a pixel is allocated.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import warnings
from pathlib import Path
from typing import BinaryIO

from stackseg.serve.errors import ApiError

CHUNK = 1 << 20
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
SUFFIX = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif"}


def sniff(head: bytes) -> str:
    """'png', 'jpeg' or 'tiff' from the file's first bytes; 415 otherwise."""
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return kind
    raise ApiError(
        415,
        "unsupported_media_type",
        "the upload is not a PNG, JPEG or TIFF image (judged by its content, not its name)",
    )


def spool(source: BinaryIO, folder: Path) -> Path:
    """Copy the upload into `folder` as `upload.<kind>`; 415 if it is not an image."""
    source.seek(0)
    head = source.read(8)
    kind = sniff(head)
    path = folder / f"upload{SUFFIX[kind]}"
    with path.open("wb") as out:
        out.write(head)
        shutil.copyfileobj(source, out, CHUNK)
    return path


def temp_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="stackseg-serve-"))


def _too_large(width: int, height: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "too_many_pixels",
        f"the image declares {width} x {height} = {width * height} pixels per frame, over "
        f"the limit of {limit} (params serve.max_pixels)",
    )


def _damaged(kind: str, exc: Exception) -> ApiError:
    return ApiError(
        422,
        "invalid_input",
        f"the upload is a damaged {kind.upper()} file: its header cannot be read "
        f"({type(exc).__name__}: {exc})",
    )


def check_pixels(path: Path, limit: int) -> tuple[int, int, int]:
    """(frames, height, width) from the header; 413 over `limit` pixels, 422 if unreadable."""
    kind = {".png": "png", ".jpg": "jpeg", ".tif": "tiff"}[path.suffix]
    if kind == "tiff":
        return _tiff_header(path, limit)
    if kind == "png":  # the IHDR chunk, first after the signature: width, height
        with path.open("rb") as file:
            head = file.read(24)
        if len(head) == 24 and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            if width * height > limit:
                raise _too_large(width, height, limit)
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                width, height = image.size
    except Image.DecompressionBombError as exc:  # PIL's own ceiling (about 179 M pixels)
        raise ApiError(
            413, "too_many_pixels", f"{exc} (params serve.max_pixels: {limit})"
        ) from None
    except Exception as exc:  # PIL raises several types for a broken header
        raise _damaged(kind, exc) from None
    if width * height > limit:
        raise _too_large(width, height, limit)
    return 1, height, width


def _tiff_header(path: Path, limit: int) -> tuple[int, int, int]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            if width * height > limit:
                raise _too_large(width, height, limit)
            return len(tif.pages), height, width
    except ApiError:
        raise
    except Exception as exc:  # tifffile raises many types for broken files
        raise _damaged("tiff", exc) from None
