"""A job's pairs: a stack's frames [first, stop) exploded into jpg/png files, or a whole
stack's previous pairs reused.

Runs in a worker process (or inline with one worker). Value checks happen here, during the
write pass, and every problem is collected as a (file, frame, message) record instead of
stopping at the first; once a job has a problem its remaining frames are still checked but
no longer encoded. Files go to the temporary output root given in the job.

Codecs: images are JPEG through simplejpeg (libjpeg-turbo), accurate DCT, 4:4:4 chroma (no
colour subsampling, so thin coloured structures survive), quality from params. Masks are
lossless PNG through imagecodecs (libpng) with zlib level 1, run-length strategy and the
Sub filter: the settings of OpenCV's default PNG writer (same bytes), but RGB(A) channel
order as given, so class k is channel k for every PNG reader.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable

import imagecodecs
import numpy as np
import simplejpeg

from stackseg.contracts import ids_file, pair_files, pair_stem
from stackseg.prepare.frames import StackReader
from stackseg.prepare.jobs import PreviousStack, StackJob, StackResult
from stackseg.prepare.masks import MaskConverter, MaskValueError
from stackseg.prepare.raw import file_hash, source_hash
from stackseg.prepare.scaling import Scaler, ScaleWindow, StackStatistics, needs_scaling
from stackseg.prepare.settings import (
    JPEG_SUBSAMPLING,
    PNG_FILTER_SUB,
    PNG_LEVEL,
    PNG_STRATEGY_RLE,
)

FRACTION_DIGITS = 6
# Encoded pairs held in memory before their files are created: 16 (about 0.5 MB at 256 x 256
# px), fewer once they hold WRITE_BYTES (large frames).
WRITE_BATCH = 16
WRITE_BYTES = 1 << 20

Problems = list[tuple[str, int, str]]


def pair_paths(job: StackJob, frame: int) -> tuple[str, str]:
    """Image and mask paths of one pair, relative to the prepared directory."""
    return pair_files(job.splits[frame], pair_stem(job.name, frame, job.image.frames))


def ids_path(job: StackJob, frame: int) -> str | None:
    """The pair's object ids (mask_format labels only), relative to the prepared directory."""
    if job.mask_format != "labels":
        return None
    return ids_file(job.splits[frame], pair_stem(job.name, frame, job.image.frames))


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a uint8 (H, W), (H, W, 1) or (H, W, 3) RGB image."""
    if image.ndim == 2:
        image = image[..., None]
    colorspace = "GRAY" if image.shape[-1] == 1 else "RGB"
    return simplejpeg.encode_jpeg(
        np.ascontiguousarray(image),
        quality=quality,
        colorspace=colorspace,
        colorsubsampling=JPEG_SUBSAMPLING,
    )


def encode_png(mask: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 (H, W) L, (H, W, 3) RGB or (H, W, 4) RGBA array, or of
    uint16 (H, W) object ids (16-bit grayscale)."""
    return bytes(
        imagecodecs.png_encode(
            np.ascontiguousarray(mask),
            level=PNG_LEVEL,
            strategy=PNG_STRATEGY_RLE,
            filter=PNG_FILTER_SUB,
        )
    )


def process_stack(job: StackJob, progress: Callable[[int], object] | None = None) -> StackResult:
    frames = job.frame_range
    source = job.source_hash
    if not source and job.first == 0:  # see jobs.py: a new stack's first job hashes it
        source = source_hash(file_hash(job.image.path), file_hash(job.mask.path))
    result = StackResult(job.name, frames.start, len(frames), source)
    # jobs.py hands `previous` only to a stack whose source hash matches it
    if job.previous is not None and _reuse(job, job.previous, result):
        if progress:
            progress(len(frames))
        return result
    _explode(job, result, progress)
    return result


def _reuse(job: StackJob, previous: PreviousStack, result: StackResult) -> bool:
    """Hard-link the previous pairs into their (possibly new) split; False if any is gone."""
    pairs = sorted(previous.pairs, key=lambda pair: pair["frame"])
    if [pair["frame"] for pair in pairs] != list(range(job.image.frames)):
        return False
    moves, reused = [], []
    for pair in pairs:
        frame = pair["frame"]
        split = job.splits[frame]
        image, mask = pair_paths(job, frame)
        old_image = os.path.join(previous.root, pair["image"])
        old_mask = os.path.join(previous.root, pair["mask"])
        if not (os.path.isfile(old_image) and os.path.isfile(old_mask)):
            return False
        moves += [(old_image, image), (old_mask, mask)]
        ids = ids_path(job, frame)
        if ids is not None:  # labels: the object ids move with the pair
            old_ids = os.path.join(previous.root, pair["ids"]) if pair.get("ids") else ""
            if not os.path.isfile(old_ids):
                return False
            moves.append((old_ids, ids))
        reused.append({**pair, "split": split, "image": image, "mask": mask, "ids": ids})
    # only now, with every file found: a stack that falls back to _explode lists each pair once
    result.pairs = reused
    for old, new in moves:
        _link_or_copy(old, os.path.join(job.out_root, new))
    result.scaling = dict(previous.scaling)
    result.reused = True
    return True


def _link_or_copy(source: str, target: str) -> None:
    # a hard link shares the bytes without copying; the previous output is never written
    # to, so sharing is safe (fall back to a copy across file systems).
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _scaler(job: StackJob, reader: StackReader, problems: Problems) -> Scaler:
    dtype = job.image.dtype
    if not needs_scaling(dtype):
        return Scaler(dtype, None)
    if len(job.frame_range) != job.image.frames:
        raise ValueError(f"{job.name}: a stack that needs scaling must be one job")
    stats = StackStatistics(dtype, job.low_percentile, job.high_percentile)
    passes: tuple[str, ...] = ("range", "histogram") if stats.needs_range_pass else ("histogram",)
    if job.window is not None:  # the rule's one window: only the NaN/inf check remains
        passes = passes[:-1]
    for step in passes:
        for index in range(job.image.frames):
            try:
                frame = reader.frame(index)
            except Exception as exc:  # decoding errors come in many types
                problems.append((job.image.path, index, _cannot_decode(exc)))
                continue
            if step == "range":
                bad = stats.add_range(frame)
                if bad:
                    message = f"{bad} NaN/inf pixels (float images must hold finite values only)"
                    problems.append((job.image.path, index, message))
            elif not problems:
                stats.add_histogram(frame)
        if problems:
            break
    if job.window is not None:
        return Scaler(dtype, None if problems else ScaleWindow(*job.window), job.rule)
    return Scaler(dtype, None if problems else stats.window())


def _cannot_decode(exc: Exception) -> str:
    return f"cannot decode ({type(exc).__name__}: {exc})"


def _explode(job: StackJob, result: StackResult, progress: Callable[[int], object] | None) -> None:
    problems: Problems = result.problems
    # every frame is encoded before the next is read, so the readers and the
    # converter may reuse one buffer each (fresh 200 kB arrays cost page faults per frame)
    converter = MaskConverter(job.mask_format, job.n_classes, job.mask.dtype, reuse_output=True)
    reuse = {"reuse_buffer": True}
    files = _PairFiles(job.out_root)
    with (
        StackReader(job.image, **reuse) as images,
        StackReader(job.mask, **reuse) as masks,
        contextlib.closing(files),
    ):
        scaler = _scaler(job, images, problems)
        result.scaling = scaler.record(job.image.dtype, job.low_percentile, job.high_percentile)
        # the scaling passes already read every image frame when they found a problem
        images_checked = bool(problems)
        for index in job.frame_range:
            image = mask = None
            try:
                if not images_checked:
                    image = scaler(images.frame(index))
            except Exception as exc:
                problems.append((job.image.path, index, _cannot_decode(exc)))
            try:
                mask, counts, ids = converter.with_ids(masks.frame(index))
            except MaskValueError as exc:
                problems.append((job.mask.path, index, str(exc)))
            except Exception as exc:
                problems.append((job.mask.path, index, _cannot_decode(exc)))
            if progress:
                progress(1)
            if problems:
                continue  # keep checking the other frames, write nothing more
            result.pairs.append(_write_pair(job, files, index, image, (mask, counts, ids)))
        if not problems:
            files.flush()
    if problems:
        result.pairs = []


class _PairFiles:
    """Creates the pair files of one job through open handles on their directories (one
    path component to look up per file instead of the whole path).

    Encoded files wait in memory and go out in bursts of `batch` pairs (or `max_bytes`),
    one directory after the other, rather than alternating between the images and masks
    folders with the encoders' work in between; `benchmarks/prepare_parts.py` times both.
    """

    def __init__(self, root: str, batch: int = WRITE_BATCH, max_bytes: int = WRITE_BYTES):
        self.root = root
        self.batch, self.max_bytes = batch, max_bytes
        self._dirs: dict[str, int] = {}
        self._waiting: dict[str, list[tuple[str, bytes]]] = {}
        self._count = self._bytes = 0

    def write(self, relative: str, data: bytes) -> None:
        folder, name = relative.rsplit("/", 1)
        self._waiting.setdefault(folder, []).append((name, data))
        self._count += 1
        self._bytes += len(data)
        if self._count >= 2 * self.batch or self._bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        for folder, files in self._waiting.items():
            if folder not in self._dirs:
                self._dirs[folder] = os.open(os.path.join(self.root, folder), os.O_RDONLY)
            for name, data in files:
                try:
                    _create(self._dirs[folder], name, data)
                except OSError as exc:
                    # a write error names no file (and a dir_fd one only the name)
                    exc.filename = os.path.join(self.root, folder, name)
                    raise
        self._waiting.clear()
        self._count = self._bytes = 0

    def close(self) -> None:
        """Close the directories; files still waiting are dropped (call flush first)."""
        for handle in self._dirs.values():
            os.close(handle)


def _create(folder: int, name: str, data: bytes) -> None:
    handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it all at once; loop in case it does not
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)


def _write_pair(job: StackJob, files: _PairFiles, index: int, image, converted) -> dict:
    """Encode one pair (and its object ids); `converted` is what MaskConverter.with_ids gave."""
    mask, counts, ids = converted
    split = job.splits[index]
    image_path, mask_path = pair_paths(job, index)
    files.write(image_path, encode_jpeg(image, job.jpeg_quality))
    files.write(mask_path, encode_png(mask))
    record_ids = ids_path(job, index)
    if record_ids is not None:
        files.write(record_ids, encode_png(ids))
    height, width = mask.shape[:2]
    pixels = height * width
    return {
        "stack": job.name,
        "frame": index,
        "split": split,
        "image": image_path,
        "mask": mask_path,
        "height": height,
        "width": width,
        "class_fraction": [round(count / pixels, FRACTION_DIGITS) for count in counts],
        "ids": record_ids,
    }
