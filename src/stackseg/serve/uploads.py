"""An upload as infer's readers take it, checked before anything is decoded.

1. `sniff`: the kind comes from the first bytes (PNG, JPEG, classic or BigTIFF), not from
   the filename or the content type; anything else is 415.
2. One frame (POST /predict, `frame_upload`): a PNG or JPEG stays in memory (its bytes,
   at most `serve.max_body_bytes`, which the body-limit middleware enforces) and is
   decoded from there; a TIFF goes to one private temporary file (prepare's TIFF reader
   reads pages by file offset), removed by `Upload.discard`.
3. A stack (POST /predict/stack, `spool`): copied in chunks to a file in a private
   temporary folder (named `upload.<kind>` after the sniffed kind, never the client's
   filename), where infer's writer also puts the mask stack; a stack never has to fit in
   memory.
4. `check_pixels`: the frame size the header declares (the PNG IHDR chunk; PIL's lazy
   open reads only the PNG/JPEG header; tifffile only the first page's tags) against
   `serve.max_pixels`: a few-KB TIFF claiming 60,000 x 60,000 is refused with 413 before
   a pixel is allocated.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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


@dataclass
class Upload:
    """One frame's upload: `name` is what infer's readers call it (`upload.png`, replaced
    by "the upload" in error messages); `data` its bytes (PNG, JPEG) or `path` a temporary
    file (TIFF)."""

    name: Path
    data: bytes | None = None
    path: Path | None = None

    def open(self) -> Any:
        from stackseg.infer import sources

        return sources.open_input(self.path or self.name, self.data)

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def frame_upload(source: BinaryIO, max_pixels: int) -> Upload:
    """The upload of POST /predict, its header checked (`check_pixels`); 415, 413, 422."""
    source.seek(0)
    head = source.read(8)
    kind = sniff(head)
    if kind == "tiff":
        handle, name = tempfile.mkstemp(prefix="stackseg-upload-", suffix=".tif")
        path = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(head)
                shutil.copyfileobj(source, out, CHUNK)
            check_pixels(path, max_pixels)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Upload(path, path=path)
    data = head + source.read()
    check_header(kind, data, max_pixels)
    return Upload(Path(f"upload{SUFFIX[kind]}"), data=data)


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
    with path.open("rb") as file:
        return check_header(kind, file.read(), limit)


def check_header(kind: str, data: bytes, limit: int) -> tuple[int, int, int]:
    """`check_pixels` of a PNG or JPEG in memory."""
    if kind == "png":  # the IHDR chunk, first after the signature: width, height
        head = data[:24]
        if len(head) == 24 and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            if width * height > limit:
                raise _too_large(width, height, limit)
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
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
