"""The prepare stage: validate the raw stacks, explode them in parallel, swap in the result.

1. Find and pair the raw files, read every file's layout from metadata (in the pool) and
   run the structural checks; any problem stops here, before any pixel work.
2. Assign splits (split.py) and build the new output in a temporary directory beside the
   target: unchanged stacks are hard-linked from the previous output, the others are
   exploded by worker processes (value checks happen during that pass).
3. On success write the manifest and swap the temporary directory into place. On any
   problem the temporary directory is removed and the previous output stays untouched, so
   the prepared directory is always either complete or absent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from stackseg.config import Config
from stackseg.data import manifest as manifest_io
from stackseg.data.jobs import plan_jobs
from stackseg.data.plan import (
    SPLITS,
    Inspection,
    StackJob,
    StackResult,
    codec_description,
    fast_lzw_missing,
    inspect_file,
    run_stack,
)
from stackseg.data.pool import WorkerPool, resolve_workers
from stackseg.data.problems import FrameProblems
from stackseg.data.validate import RawStack, check_stacks, discover
from stackseg.errors import InputDataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareSettings:
    """What the prepare stage reads from the config (plain values, passed down)."""

    raw: Path
    prepared: Path
    classes: tuple[str, ...]
    seed: int
    jpeg_quality: int
    mask_format: str
    split_by: str
    fractions: dict[str, float]
    low_percentile: float
    high_percentile: float
    workers: int

    @classmethod
    def from_config(cls, cfg: Config) -> PrepareSettings:
        section = cfg.prepare
        return cls(
            raw=Path(cfg.paths.raw),
            prepared=Path(cfg.paths.prepared),
            classes=tuple(cfg.classes),
            seed=cfg.seed,
            jpeg_quality=section.jpeg_quality,
            mask_format=section.mask_format,
            split_by=section.split_by,
            fractions=section.split.model_dump(),
            low_percentile=section.scale_low_percentile,
            high_percentile=section.scale_high_percentile,
            workers=section.workers,
        )

    def content_params(self) -> dict:
        """The params that decide a pair's bytes (the split only decides its folder)."""
        return {
            "classes": list(self.classes),
            "mask_format": self.mask_format,
            "scale_percentiles": [self.low_percentile, self.high_percentile],
            "codecs": codec_description(self.jpeg_quality),
        }


def prepare(settings: PrepareSettings, pool: WorkerPool | None = None) -> dict:
    """Run the stage; returns the manifest written to settings.prepared. `pool` may have
    started its workers already (pool.start_pool); without one the stage makes its own."""
    with contextlib.ExitStack() as owned:
        if pool is None:
            pool = owned.enter_context(WorkerPool())
        manifest, results = _prepare(settings, pool)
    _log_summary(settings, manifest, results)
    return manifest


def _prepare(settings: PrepareSettings, pool: WorkerPool) -> tuple[dict, list[StackResult]]:
    stacks, problems = discover(settings.raw)
    if not stacks:
        raise InputDataError(problems)
    # a big stack becomes several jobs (jobs.py): cap by the files to inspect, not by stacks
    workers = resolve_workers(settings.workers, 2 * len(stacks))
    runner = pool.use(workers)
    log.info("%d stacks in %s, %d worker process(es)", len(stacks), settings.raw, workers)
    fingerprint = manifest_io.fingerprint(settings.content_params())
    previous = manifest_io.read_previous(settings.prepared, fingerprint)
    # the paired stacks are checked even if pairing found problems: all are listed
    inspections = _inspect(runner, stacks, settings, set(previous))
    log.debug("metadata of %d files read", len(inspections))
    problems += check_stacks(stacks, inspections, settings.mask_format, len(settings.classes))
    if problems:
        raise InputDataError(problems)
    if fast_lzw_missing(found.layout for found in inspections.values()):
        log.warning(
            "stackseg's LZW decoder was not built (no C compiler at install time): LZW "
            "stacks decode about 3.5x slower; install gcc or clang, then `make clean-venv "
            "install`"
        )
    temp = _fresh_temp_dir(settings.prepared)
    try:
        jobs = plan_jobs(stacks, inspections, settings, previous, temp)
        log.debug("%d jobs planned", len(jobs))
        results = _merge(_run(runner, jobs, inline=workers <= 1))
        runner.release()
        log.debug("all jobs done")
        problems = _problem_lines(results)
        if problems:
            raise InputDataError(problems)
        manifest = _manifest(settings, jobs, results, fingerprint)
        (temp / manifest_io.MANIFEST_NAME).write_text(manifest_io.dumps(manifest))
        _swap_into_place(temp, settings.prepared)
        log.debug("manifest written, output in place")
    except BaseException:
        pool.close()  # a worker still busy (Ctrl-C) would write into what is being removed
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return manifest, results


def _inspect(pool, stacks: list[RawStack], settings, known: set[str]) -> dict[str, Inspection]:
    """Every file's layout; content hashes only for stacks the previous output has (jobs.py)."""
    n_classes = len(settings.classes)
    mask_axis = n_classes if settings.mask_format == "channels" else None
    items = [(s.mask, mask_axis, s.name in known) for s in stacks]
    items += [(s.image, None, s.name in known) for s in stacks]  # the slower masks first
    return {found.path: found for found in pool.map_unordered(inspect_file, items)}


def _run(pool, jobs: list[StackJob], inline: bool) -> list[StackResult]:
    total = sum(len(job.frame_range) for job in jobs)
    with tqdm(total=total, unit="frame", desc="prepare", file=sys.stderr, disable=None) as bar:
        if inline:
            from stackseg.data.worker import process_stack

            return [process_stack(job, bar.update) for job in jobs]
        results = []
        for result in pool.map_unordered(run_stack, [(job,) for job in jobs]):
            bar.update(result.frames)
            results.append(result)
    return results


def _merge(results: list[StackResult]) -> list[StackResult]:
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


def _problem_lines(results: list[StackResult]) -> list[str]:
    """Each stack's problem lines, capped per file, its summary lines right after them."""
    lines = []
    for result in results:
        stack = FrameProblems()
        for path, frame, message in result.problems:
            stack.add(path, frame, message)
        lines += stack.finish()
    return lines


def _manifest(settings, jobs: list[StackJob], results: list[StackResult], fingerprint) -> dict:
    by_name = {job.name: job for job in jobs}
    pairs = sorted(
        (pair for result in results for pair in result.pairs),
        key=lambda p: (SPLITS.index(p["split"]), p["stack"], p["frame"]),
    )
    stacks = {}
    for result in results:
        job = by_name[result.name]
        used = sorted(set(job.splits), key=SPLITS.index)
        stacks[result.name] = {
            "split": used[0] if len(used) == 1 else "mixed",
            "frames": job.image.frames,
            "height": job.image.height,
            "width": job.image.width,
            "image": os.path.relpath(job.image.path, settings.raw),
            "mask": os.path.relpath(job.mask.path, settings.raw),
            "scaling": result.scaling,
            "source_hash": result.source_hash,
        }
    return {
        "format": manifest_io.FORMAT_VERSION,
        "classes": list(settings.classes),
        "image_channels": jobs[0].image.channels,
        "mask_format": settings.mask_format,
        "split_by": settings.split_by,
        "split_fractions": settings.fractions,
        "seed": settings.seed,
        "scaling": {
            **manifest_io.SCALING_RULE,
            "low_percentile": settings.low_percentile,
            "high_percentile": settings.high_percentile,
        },
        "codecs": codec_description(settings.jpeg_quality),
        "fingerprint": fingerprint,
        "splits": manifest_io.class_balance(pairs, len(settings.classes)),
        "stacks": stacks,
        "pairs": pairs,
    }


def _fresh_temp_dir(target: Path) -> Path:
    """An empty build directory beside the target (same file system, so rename works)."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for stale in parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)  # left by a run that was killed
    temp = parent / f".{target.name}.tmp-{os.getpid()}"
    for split in SPLITS:
        for kind in ("images", "masks"):
            (temp / split / kind).mkdir(parents=True)
    return temp


def _swap_into_place(temp: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    os.replace(temp, target)
    shutil.rmtree(old, ignore_errors=True)


def _log_summary(settings, manifest: dict, results: list[StackResult]) -> None:
    reused = sum(result.reused for result in results)
    log.info(
        "%d pairs from %d stacks in %s (%d stacks redone, %d unchanged)",
        len(manifest["pairs"]),
        len(results),
        settings.prepared,
        len(results) - reused,
        reused,
    )
    for name, balance in manifest["splits"].items():
        fractions = ", ".join(
            f"{cls} {100 * f:.2f}%"
            for cls, f in zip(settings.classes, balance["class_fraction"], strict=True)
        )
        log.info(
            "%-5s %3d stacks %6d pairs; foreground per class: %s",
            name,
            balance["stacks"],
            balance["pairs"],
            fractions or "-",
        )
        if not balance["pairs"] and settings.fractions[name] > 0:
            log.warning("split %s is empty (fewer than 3 stacks?)", name)
