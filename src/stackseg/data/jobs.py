"""Planning the work of a prepare run: the split of every frame, then the jobs.

A stack whose content is unchanged since the previous output is one job that hard-links
its old pairs. A changed 8-bit stack is cut into parts of about FRAMES_PER_JOB frames, so
that at the end of a run no core waits long for the last whole stack of another; stacks
that need a scaling pass over all their frames first (16-bit, float) stay one job.

Content hashes decide reuse, so the metadata pass hashes the files of the stacks the
previous output has. A new stack is hashed by its first job instead: reading every raw
file once more before any encoding starts would leave the cores waiting on memory and disk.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from stackseg.data import split as splitting
from stackseg.data.plan import StackJob, source_hash

FRAMES_PER_JOB = 128


def _frame_splits(stacks, frames: dict[str, int], settings) -> dict[str, tuple]:
    if settings.split_by == "stack":
        chosen = splitting.assign([s.name for s in stacks], settings.fractions, settings.seed)
        return {s.name: (chosen[s.name],) * frames[s.name] for s in stacks}
    keys = {
        (s.name, f): splitting.frame_key(s.name, f) for s in stacks for f in range(frames[s.name])
    }
    chosen = splitting.assign(keys.values(), settings.fractions, settings.seed)
    return {s.name: tuple(chosen[keys[s.name, f]] for f in range(frames[s.name])) for s in stacks}


def plan_jobs(stacks, inspections, settings, previous: dict, temp: Path) -> list[StackJob]:
    frames = {s.name: inspections[s.image].layout.frames for s in stacks}
    splits = _frame_splits(stacks, frames, settings)
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
            source_hash=source_hash(image.content_hash, mask.content_hash) if hashed else "",
        )
        before = previous.get(s.name)
        if before is not None and before.source_hash == job.source_hash:
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


def _splittable(job: StackJob) -> bool:
    # 8-bit images need no per-stack scaling pass, and pages read without tifffile cost
    # nothing to reopen; other stacks stay one job
    return (
        job.image.dtype == "uint8" and job.image.direct is not None and job.mask.direct is not None
    )


def _pixels(job: StackJob) -> int:
    return len(job.frame_range) * job.image.height * job.image.width
