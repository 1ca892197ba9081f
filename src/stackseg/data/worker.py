"""One stack: reuse its pairs when its source is unchanged, else explode it into pairs.

Runs in a worker process (or inline with one worker). Value checks happen here, during the
write pass, and every problem is collected (one line per file and frame) instead of
stopping at the first; once a stack has a problem its remaining frames are still checked
but no longer encoded. Files go to the temporary output root given in the job.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable

from stackseg.data.encode import encode_jpeg, encode_png
from stackseg.data.masks import MaskConverter, MaskValueError
from stackseg.data.plan import StackJob, StackResult, pair_paths
from stackseg.data.scaling import Scaler, StackStatistics, needs_scaling
from stackseg.data.tiff_io import StackReader

HASH_CHUNK = 1 << 20
FRAME_PROBLEMS_PER_FILE = 10
FRACTION_DIGITS = 6


def source_hash(image_path: str, mask_path: str) -> str:
    """sha256 over the bytes of both files (each prefixed by its size)."""
    digest = hashlib.sha256()
    for path in (image_path, mask_path):
        digest.update(os.path.getsize(path).to_bytes(8, "little"))
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class _Problems:
    """Per-frame problems, at most FRAME_PROBLEMS_PER_FILE lines per file, then a summary."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._extra: dict[str, list[int]] = {}
        self._shown: dict[str, int] = {}

    def add(self, path: str, frame: int, message: str) -> None:
        if self._shown.get(path, 0) < FRAME_PROBLEMS_PER_FILE:
            self._shown[path] = self._shown.get(path, 0) + 1
            self.lines.append(f"{path} frame {frame}: {message}")
        else:
            self._extra.setdefault(path, []).append(frame)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def finish(self) -> list[str]:
        for path, frames in self._extra.items():
            self.lines.append(
                f"{path}: {len(frames)} more frames with problems (frames {frames[0]}..{frames[-1]})"
            )
        return self.lines


def process_stack(job: StackJob, progress: Callable[[int], None] | None = None) -> StackResult:
    result = StackResult(job.name, source_hash=source_hash(job.image.path, job.mask.path))
    previous = job.previous
    if previous is not None and previous.source_hash == result.source_hash and _reuse(job, result):
        if progress:
            progress(job.image.frames)
        return result
    _explode(job, result, progress)
    return result


def _reuse(job: StackJob, result: StackResult) -> bool:
    """Hard-link the previous pairs into their (possibly new) split; False if any is gone."""
    previous = job.previous
    pairs = sorted(previous.pairs, key=lambda pair: pair["frame"])
    if [pair["frame"] for pair in pairs] != list(range(job.image.frames)):
        return False
    moves = []
    for pair in pairs:
        frame = pair["frame"]
        split = job.splits[frame]
        image, mask = pair_paths(job.name, frame, job.image.frames, split)
        old_image = os.path.join(previous.root, pair["image"])
        old_mask = os.path.join(previous.root, pair["mask"])
        if not (os.path.isfile(old_image) and os.path.isfile(old_mask)):
            return False
        moves += [(old_image, image), (old_mask, mask)]
        result.pairs.append({**pair, "split": split, "image": image, "mask": mask})
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


def _scaler(job: StackJob, reader: StackReader, problems: _Problems) -> Scaler:
    dtype = job.image.dtype
    if not needs_scaling(dtype):
        return Scaler(dtype, None)
    stats = StackStatistics(dtype, job.low_percentile, job.high_percentile)
    passes = ("range", "histogram") if stats.needs_range_pass else ("histogram",)
    for step in passes:
        for index in range(job.image.frames):
            try:
                frame = reader.frame(index)
            except Exception as exc:  # decoding errors come in many types
                problems.add(job.image.path, index, f"cannot decode ({type(exc).__name__}: {exc})")
                continue
            if step == "range":
                bad = stats.add_range(frame)
                if bad:
                    problems.add(
                        job.image.path,
                        index,
                        f"{bad} NaN/inf pixels (float images must hold finite values only)",
                    )
            elif not problems:
                stats.add_histogram(frame)
        if problems:
            break
    return Scaler(dtype, None if problems else stats.window())


def _explode(job: StackJob, result: StackResult, progress: Callable[[int], None] | None) -> None:
    problems = _Problems()
    converter = MaskConverter(job.mask_format, job.n_classes, job.mask.dtype)
    with StackReader(job.image) as images, StackReader(job.mask) as masks:
        scaler = _scaler(job, images, problems)
        result.scaling = scaler.record(job.image.dtype, job.low_percentile, job.high_percentile)
        # the scaling passes already read every image frame when they found a problem
        images_checked = bool(problems)
        for index in range(job.image.frames):
            image = mask = None
            try:
                if not images_checked:
                    image = scaler(images.frame(index))
            except Exception as exc:
                problems.add(job.image.path, index, f"cannot decode ({type(exc).__name__}: {exc})")
            try:
                mask, counts = converter(masks.frame(index))
            except MaskValueError as exc:
                problems.add(job.mask.path, index, str(exc))
            except Exception as exc:
                problems.add(job.mask.path, index, f"cannot decode ({type(exc).__name__}: {exc})")
            if progress:
                progress(1)
            if problems:
                continue  # keep checking the other frames, write nothing more
            result.pairs.append(_write_pair(job, index, image, mask, counts))
    result.problems = problems.finish()
    if result.problems:
        result.pairs = []


def _write_pair(job: StackJob, index: int, image, mask, counts: list[int]) -> dict:
    split = job.splits[index]
    image_path, mask_path = pair_paths(job.name, index, job.image.frames, split)
    with open(os.path.join(job.out_root, image_path), "wb") as handle:
        handle.write(encode_jpeg(image, job.jpeg_quality))
    with open(os.path.join(job.out_root, mask_path), "wb") as handle:
        handle.write(encode_png(mask))
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
    }
