"""The stage's worker processes, and the two entry points they run.

Workers are spawned, not forked: they start clean and import only the pixel code they
need (tifffile, OpenCV, the codecs), never the parent's config. The pool is created after
the config is loaded and sized from `prepare.workers` (0 = all cores), capped by the work;
with one worker the calls run inline, in this process. This module stays light: the parent
imports it, and the entry points import the pixel code inside the workers only.

Workers die with the stage: if it is killed (kill -9 included, where it can clean up
nothing) the kernel sends each worker SIGKILL (Linux's parent-death signal), and a watchdog
thread in each worker ends it once its parent is gone, in case that signal was missed (set
after the parent died) or is not available. multiprocessing's resource tracker then sees
its last user gone and exits too.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
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


# prctl(2) option: the signal this process gets when the thread that made it ends
PR_SET_PDEATHSIG = 1
# how often a worker's watchdog checks that the stage is still its parent
WATCH_SECONDS = 0.5


def _die_with(parent: int) -> None:
    """End this worker when `parent` (the stage's process) ends, however it ends.

    The parent-death signal comes when the *thread* that spawned the worker ends: the pool
    spawns its workers in submit(), called from the stage's main thread, which lives as
    long as the stage."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watchdog alone
            pass
    if os.getppid() != parent:  # died before the signal was set: nobody would send it
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="watch-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:  # re-parented: the stage is gone, nobody wants our work
            os._exit(1)


# why this worker could not start (its imports failed), reported by its first task
_startup_error: str | None = None


def _start_worker(parent: int) -> None:
    global _startup_error
    _die_with(parent)
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
        self._releasing: threading.Thread | None = None
        if count > 1:
            log.debug("starting %d worker processes", count)
            self._executor = ProcessPoolExecutor(
                count,
                mp_context=get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
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
        if self._executor is not None and self._releasing is None:
            # A waiting shutdown in a thread, not shutdown(wait=False): after that, a later
            # shutdown(wait=True) no longer waits, and CPython 3.11's exit hook can then
            # race the pool's own thread closing its wake-up pipe ("Exception ignored").
            self._releasing = threading.Thread(
                target=self._executor.shutdown,
                kwargs={"wait": True, "cancel_futures": True},
                name="release-workers",
            )
            self._releasing.start()

    def close(self) -> None:
        """Stop the workers; return only when none is running a task (none writes any more)."""
        if self._releasing is not None:
            self._releasing.join()
        elif self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
