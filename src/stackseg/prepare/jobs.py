"""Planning the work of a prepare run: the split of every frame, then the jobs.

A stack whose content is unchanged since the previous output is one job that hard-links
its old pairs. A changed 8-bit stack is cut into parts of about FRAMES_PER_JOB frames, so
that at the end of a run no core waits long for the last whole stack of another; stacks
that need a scaling pass over all their frames first (16-bit, float) stay one job.

Content hashes decide reuse, so the metadata pass hashes the files of the stacks the
previous output has. A new stack is hashed by its first job instead: reading every raw
file once more before any encoding starts would leave the cores waiting on memory and disk.

Jobs end in any order; their results are merged per stack in frame order, and each
problem a job found, a (file, frame, message) record, becomes a report line in stack and
frame order, so the report is the same however the frames were spread over the workers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from stackseg.prepare import split as splitting
from stackseg.prepare.layout import StackLayout
from stackseg.prepare.raw import source_hash

FRAMES_PER_JOB = 128
FRAME_PROBLEMS_PER_FILE = 10


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
    # training and fixed rules: the one (low, high) for every uint16/float stack (window.py)
    window: tuple[float, float] | None = None
    rule: str = "stack"
    source_hash: str = ""  # empty: this job hashes the source files (module doc)
    first: int = 0
    stop: int | None = None
    previous: PreviousStack | None = None

    @property
    def frame_range(self) -> range:
        return range(self.first, self.image.frames if self.stop is None else self.stop)


@dataclass
class StackResult:
    """What a job did: its pairs (manifest records) or its problems."""

    name: str
    first: int = 0
    frames: int = 0  # frames handled (for progress)
    source_hash: str = ""
    scaling: dict = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)
    # (file, frame, message) for every problem found; the parent turns them into lines
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    reused: bool = False


def frame_splits(stacks, frames: dict[str, int], settings) -> dict[str, tuple]:
    """Per stack, the split of each of its frames."""
    if settings.split_by == "stack":
        chosen = splitting.assign([s.name for s in stacks], settings.fractions, settings.seed)
        return {s.name: (chosen[s.name],) * frames[s.name] for s in stacks}
    keys = {
        (s.name, f): splitting.frame_key(s.name, f) for s in stacks for f in range(frames[s.name])
    }
    chosen = splitting.assign(keys.values(), settings.fractions, settings.seed)
    return {s.name: tuple(chosen[keys[s.name, f]] for f in range(frames[s.name])) for s in stacks}


def plan_jobs(
    stacks, inspections, settings, previous: dict, temp: Path, splits: dict, window=None
) -> list[StackJob]:
    """The jobs of a run, biggest first; each writes its pairs under `temp`. `splits` is
    `frame_splits`; `window` the rule's one window (window.py), None per stack."""
    jobs = []
    for s in stacks:
        image, mask = inspections[s.image], inspections[s.mask]
        hashed = image.content_hash is not None and mask.content_hash is not None
        job = StackJob(
            name=s.name,
            image=image.layout,
            mask=mask.layout,
            splits=splits[s.name],
            out_root=str(temp),
            jpeg_quality=settings.jpeg_quality,
            mask_format=settings.mask_format,
            n_classes=len(settings.classes),
            low_percentile=settings.low_percentile,
            high_percentile=settings.high_percentile,
            window=None if window is None else (window.low, window.high),
            rule=settings.scaling,
            source_hash=source_hash(image.content_hash, mask.content_hash) if hashed else "",
        )
        before = previous.get(s.name)
        if (
            before is not None
            and before.source_hash == job.source_hash
            and _same_window(before.scaling, job.window)
        ):
            jobs.append(dataclasses.replace(job, previous=before))  # reused if all is there
        elif _splittable(job):
            total = job.image.frames
            parts = math.ceil(total / FRAMES_PER_JOB)
            bounds = [part * total // parts for part in range(parts + 1)]  # near-equal parts
            jobs += [
                dataclasses.replace(job, first=first, stop=stop)
                for first, stop in zip(bounds, bounds[1:], strict=False)
            ]
        else:
            jobs.append(job)
    # biggest jobs first keeps the workers busy until the end
    return sorted(jobs, key=lambda j: (-_pixels(j), j.name, j.first))


def _same_window(scaling: dict, window: tuple[float, float] | None) -> bool:
    """A stack scaled with another training window is redone (the fingerprint covers the
    other rules); uint8 stacks are never scaled."""
    if window is None or scaling.get("method") == "none":
        return True
    return (scaling.get("low"), scaling.get("high")) == window


def _splittable(job: StackJob) -> bool:
    # 8-bit images need no per-stack scaling pass, and pages read without tifffile cost
    # nothing to reopen; other stacks stay one job
    return (
        job.image.dtype == "uint8" and job.image.direct is not None and job.mask.direct is not None
    )


def _pixels(job: StackJob) -> int:
    return len(job.frame_range) * job.image.height * job.image.width


def merge(results: list[StackResult]) -> list[StackResult]:
    """One result per stack, its parts in frame order; sorted by stack name."""
    merged: dict[str, StackResult] = {}
    for part in sorted(results, key=lambda result: (result.name, result.first)):
        whole = merged.setdefault(part.name, StackResult(part.name))
        whole.source_hash = whole.source_hash or part.source_hash  # the first part's
        whole.frames += part.frames
        whole.scaling = whole.scaling or part.scaling
        whole.pairs += part.pairs
        whole.problems += part.problems
        whole.reused = part.reused
    for whole in merged.values():
        if whole.problems:
            whole.pairs = []
    return list(merged.values())


def problem_lines(results: list[StackResult]) -> list[str]:
    """Each stack's problem lines, capped per file, its summary lines right after them."""
    lines = []
    for result in results:
        stack = FrameProblems()
        for path, frame, message in result.problems:
            stack.add(path, frame, message)
        lines += stack.finish()
    return lines


class FrameProblems:
    """Problem lines of one stack: at most FRAME_PROBLEMS_PER_FILE per file, then one line
    per file that had more."""

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

    def finish(self) -> list[str]:
        for path, frames in self._extra.items():
            self.lines.append(
                f"{path}: {len(frames)} more frames with problems (frames {frames[0]}..{frames[-1]})"
            )
        return self.lines
