"""The stage's worker processes, and the two entry points they run.

Workers are spawned, not forked: they start clean and import only the pixel code they
need (tifffile, OpenCV, the codecs), never the parent's config. The pool is created after
the config is loaded and sized from `prepare.workers` (0 = all cores), capped by the work;
with one worker the calls run inline, in this process. This module stays light: the parent
imports it, and the entry points import the pixel code inside the workers only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from stackseg.errors import StacksegError
from stackseg.prepare.jobs import StackJob, StackResult
from stackseg.prepare.layout import Inspection

log = logging.getLogger(__name__)

# BLAS and OpenCV size their thread pools by the cores; each worker is one of `workers`
# processes that already share those cores, so a worker runs one thread of each.
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_workers(requested: int, jobs: int) -> int:
    """`requested` (0: all cores), but never more than there are jobs."""
    return max(1, min(requested or available_cores(), jobs))


def inspect_file(path: str, class_axis_size: int | None, content_hash: bool = True) -> Inspection:
    """Metadata of one raw file, and its content hash if asked (runs in a worker)."""
    from stackseg.prepare.raw import file_hash
    from stackseg.prepare.tiff import LayoutError, read_layout

    try:
        layout = read_layout(path, class_axis_size)
        return Inspection(path, layout, None, file_hash(path) if content_hash else None)
    except LayoutError as exc:
        return Inspection(path, None, str(exc))
    except OSError as exc:
        return Inspection(path, None, f"cannot read file ({exc.strerror or exc})")


def run_stack(job: StackJob) -> StackResult:
    """Prepare (or reuse) one job's pairs (runs in a worker)."""
    from stackseg.prepare.pairs import process_stack

    return process_stack(job)


# why this worker could not start (its imports failed), reported by its first task
_startup_error: str | None = None


def _start_worker() -> None:
    global _startup_error
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)  # before numpy is imported
    try:
        import cv2

        cv2.setNumThreads(1)
        # the pixel code, imported now rather than by the first job
        import stackseg.prepare.pairs
        import stackseg.prepare.tiff  # noqa: F401
    except Exception as exc:
        # raising here would only break the pool ("a worker died"); the tasks say why
        _startup_error = f"{type(exc).__name__}: {exc}"


def _call(function: Callable, args: tuple):
    if _startup_error is not None:
        raise StacksegError(
            f"a prepare worker could not start ({_startup_error}); "
            "reinstall the environment (make clean-venv install) and try again"
        )
    return function(*args)


class Workers:
    """`count` spawned worker processes, or plain calls in this process when count is 1."""

    def __init__(self, count: int):
        self.count = count
        self._executor: ProcessPoolExecutor | None = None
        if count > 1:
            log.debug("starting %d worker processes", count)
            self._executor = ProcessPoolExecutor(
                count, mp_context=get_context("spawn"), initializer=_start_worker
            )

    @property
    def inline(self) -> bool:
        return self._executor is None

    def map_unordered(self, function: Callable, items: Iterable[tuple]) -> Iterator:
        """function(*args) for each args tuple; results in the order they finish."""
        if self._executor is None:
            for args in items:
                yield function(*args)
            return
        futures = [self._executor.submit(_call, function, args) for args in items]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise StacksegError(
                "a prepare worker process died (out of memory?); lower prepare.workers"
            ) from None
        finally:
            for future in futures:
                future.cancel()

    def release(self) -> None:
        """No more work: let the workers exit while this process finishes up."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers; return only when none is running a task (none writes any more)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
