"""The prepare stage: validate the raw stacks, explode them in parallel, swap in the result.

1. Find and pair the raw files (raw.py); start the worker processes (workers.py).
2. Read every file's layout from metadata in the workers (tiff.py) and run the structural
   checks (raw.py); any problem stops here, before any pixel work.
3. Assign splits (split.py) and plan the jobs (jobs.py); build the new output in a
   temporary directory beside the target (stackseg.atomic): unchanged stacks are
   hard-linked from the previous output, the others are exploded by the workers
   (pairs.py; value checks happen during that pass).
4. On success write the manifest (manifest.py, through stackseg.contracts) into the
   temporary directory and move it into place. On any problem the temporary directory is
   removed and the previous output stays untouched, so the prepared directory is always
   either complete or absent.

A run holds the output's lock (stackseg.atomic.exclusive) from before the workers start to
the end: a second prepare on the same output is refused instead of racing this one.
"""

from __future__ import annotations

import logging
import shutil

from stackseg import atomic
from stackseg.config import Config
from stackseg.contracts import IDS_FOLDER, SPLITS, Manifest, write_manifest
from stackseg.errors import InputDataError
from stackseg.prepare import manifest as manifests
from stackseg.prepare.jobs import (
    StackJob,
    StackResult,
    frame_splits,
    merge,
    plan_jobs,
    problem_lines,
)
from stackseg.prepare.layout import Inspection
from stackseg.prepare.raw import RawStack, check_stacks, discover
from stackseg.prepare.settings import PrepareSettings
from stackseg.prepare.window import rule_window
from stackseg.prepare.workers import Workers, inspect_file, resolve_workers, run_stack
from stackseg.progress import progress

log = logging.getLogger(__name__)


def run(cfg: Config) -> Manifest:
    """Run the stage with the config's paths and `prepare:` settings; returns the manifest
    written to paths.prepared."""
    settings = PrepareSettings.from_config(cfg)
    # 1. the raw files
    stacks, problems = discover(settings.raw)
    if not stacks:
        raise InputDataError(problems)
    # a big stack becomes several jobs (jobs.py): cap by the files to inspect, not by stacks
    count = resolve_workers(settings.workers, 2 * len(stacks))
    log.info("%d stacks in %s, %d worker process(es)", len(stacks), settings.raw, count)
    # one run at a time per output: a second is refused rather than racing the first
    with atomic.exclusive(settings.prepared, "prepare"), Workers(count) as workers:
        manifest, results = _prepare(settings, stacks, problems, workers)
    _log_summary(settings, manifest, results)
    return manifest


def _prepare(
    settings: PrepareSettings, stacks: list[RawStack], problems: list[str], workers: Workers
) -> tuple[Manifest, list[StackResult]]:
    # 2. metadata and structural checks; the paired stacks are checked even if pairing
    # found problems, so that all are listed
    fingerprint = manifests.fingerprint(settings.content_params())
    previous = manifests.read_previous(settings.prepared, fingerprint)
    inspections = _inspect(workers, stacks, settings, set(previous))
    log.debug("metadata of %d files read", len(inspections))
    problems += check_stacks(stacks, inspections, settings.mask_format, len(settings.classes))
    if problems:
        raise InputDataError(problems)
    # 3. the pairs, built beside the target (a killed run's leftovers go first)
    atomic.remove_stale(settings.prepared)
    temp = atomic.temp_path(settings.prepared, directory=True)
    try:
        # labels: the object ids of each pair go to <split>/objects/ (contracts.ids_file)
        kinds = ("images", "masks") + ((IDS_FOLDER,) if settings.mask_format == "labels" else ())
        for split in SPLITS:
            for kind in kinds:
                (temp / split / kind).mkdir(parents=True)
        # every layout is there: check_stacks refused the files without one
        layouts = {s.name: inspections[s.image].layout for s in stacks}
        frames = {name: layout.frames for name, layout in layouts.items() if layout}
        splits = frame_splits(stacks, frames, settings)
        # training / fixed: the one window, before any pair is written (window.py)
        window = rule_window(workers, layouts, splits, settings)
        if window is not None:
            log.info("scaling window (%s): %g..%g", settings.scaling, window.low, window.high)
        jobs = plan_jobs(stacks, inspections, settings, previous, temp, splits, window)
        log.debug("%d jobs planned", len(jobs))
        results = merge(_run(workers, jobs))
        workers.release()
        log.debug("all jobs done")
        problems = problem_lines(results)
        if problems:
            raise InputDataError(problems)
        # 4. the manifest, then the swap
        manifest = manifests.build(
            settings,
            jobs,
            results,
            fingerprint,
            None if window is None else (window.low, window.high),
        )
        write_manifest(manifest, temp)
        atomic.move_into_place(temp, settings.prepared)
        log.debug("manifest written, output in place")
    except BaseException:
        workers.close()  # a worker still busy (Ctrl-C) would write into what is being removed
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return manifest, results


def _inspect(
    workers: Workers, stacks: list[RawStack], settings: PrepareSettings, known: set[str]
) -> dict[str, Inspection]:
    """Every file's layout; content hashes only for stacks the previous output has (jobs.py)."""
    n_classes = len(settings.classes)
    mask_axis = n_classes if settings.mask_format == "channels" else None
    items = [(s.mask, mask_axis, s.name in known) for s in stacks]
    items += [(s.image, None, s.name in known) for s in stacks]  # the slower masks first
    return {found.path: found for found in workers.map_unordered(inspect_file, items)}


def _run(workers: Workers, jobs: list[StackJob]) -> list[StackResult]:
    total = sum(len(job.frame_range) for job in jobs)
    with progress(total, "prepare", "frame") as bar:
        if workers.inline:  # progress per frame rather than per job
            from stackseg.prepare.pairs import process_stack

            return [process_stack(job, bar.update) for job in jobs]
        results = []
        for result in workers.map_unordered(run_stack, [(job,) for job in jobs]):
            bar.update(result.frames)
            results.append(result)
    return results


def _log_summary(settings: PrepareSettings, manifest: Manifest, results: list[StackResult]):
    reused = sum(result.reused for result in results)
    log.info(
        "%d pairs from %d stacks in %s (%d stacks redone, %d unchanged)",
        len(manifest.pairs),
        len(results),
        settings.prepared,
        len(results) - reused,
        reused,
    )
    for name, balance in manifest.splits.items():
        fractions = ", ".join(
            f"{cls} {100 * f:.2f}%"
            for cls, f in zip(settings.classes, balance.class_fraction, strict=True)
        )
        log.info(
            "%-5s %3d stacks %6d pairs; foreground per class: %s",
            name,
            balance.stacks,
            balance.pairs,
            fractions or "-",
        )
        if not balance.pairs and settings.fractions[name] > 0:
            log.warning("split %s is empty (fewer than 3 stacks?)", name)
        elif _small(settings, manifest.split_by, balance.stacks, balance.pairs):
            log.warning(
                "split %s has only %d stack(s) and %d pair(s) (prepare.min_split_stacks %d, "
                "min_split_pairs %d): its scores will swing with which frames they are; add "
                "stacks, or widen the split",
                name,
                balance.stacks,
                balance.pairs,
                settings.min_split_stacks,
                settings.min_split_pairs,
            )


def _small(settings: PrepareSettings, split_by: str, stacks: int, pairs: int) -> bool:
    """Too few stacks (when stacks are split whole) or too few pairs for trusted scores."""
    few_stacks = split_by == "stack" and 0 < stacks < settings.min_split_stacks
    return few_stacks or 0 < pairs < settings.min_split_pairs
