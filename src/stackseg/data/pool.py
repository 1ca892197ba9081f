"""A process pool over stacks, or plain calls in this process for one worker.

Workers are spawned, not forked: they start clean and import only the pixel code they
need (tifffile, OpenCV, the codecs), never the parent's config or anything heavier.
Starting a worker and importing that code takes about 0.3 s, as long as the parent takes
to import and validate its config; `start_pool` begins it first, so the two overlap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from stackseg.errors import StacksegError

log = logging.getLogger(__name__)

# BLAS and OpenCV size their thread pools by the cores; each worker is one of `workers`
# processes that already share those cores, so a worker runs one thread of each.
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_workers(requested: int, jobs: int) -> int:
    return max(1, min(requested or available_cores(), jobs))


def requested_workers(params: str | Path) -> int:
    """prepare.workers as params.yaml has it, read without validating (0, i.e. all cores,
    when absent or not a whole number); the validated config decides in the end."""
    import yaml

    try:
        value = (yaml.safe_load(Path(params).read_text()) or {})["prepare"]["workers"]
    except Exception:  # missing or broken: the config loader reports it properly
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# why this worker could not start (its imports failed), reported by its first task
_startup_error: str | None = None


def _start_worker() -> None:
    global _startup_error
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        import cv2

        cv2.setNumThreads(1)
        # the pixel code, imported now rather than by the first job
        import stackseg.data.worker  # noqa: F401
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


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool start them all now."""


class _Pool:
    """Runs calls in worker processes (spawned: they import only the pixel code)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.usable = True  # until release() or close()
        self.executor = ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_start_worker
        )
        for _ in range(workers):  # a spawning pool starts a worker per waiting task
            ready = self.executor.submit(_ready)
            ready.add_done_callback(lambda _: log.debug("a worker is ready"))
        log.debug("starting %d worker processes", workers)

    def map_unordered(self, function: Callable, items: Iterable[tuple]) -> Iterator:
        futures = [self.executor.submit(_call, function, args) for args in items]
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
        self.usable = False
        self.executor.shutdown(wait=False, cancel_futures=True)

    def close(self, wait: bool = True) -> None:
        """Stop the workers; with `wait`, return only when none is running a task."""
        self.usable = False
        self.executor.shutdown(wait=wait, cancel_futures=True)


class _Inline:
    workers = 1
    usable = True

    def map_unordered(self, function: Callable, items: Iterable[tuple]) -> Iterator:
        for args in items:
            yield function(*args)

    def release(self) -> None:
        pass

    def close(self, wait: bool = True) -> None:
        pass


class WorkerPool:
    """The stage's pool: started early with a first guess of the worker count (`start`),
    replaced by `use` only if that guess turns out wrong. A pool with more workers than the
    stage needs (fewer stacks than cores) is kept: the extra workers just stay idle."""

    def __init__(self, start: int | None = None):
        """`start`: workers to start now (1: run inline); None: start nothing until `use`."""
        self._pool: _Pool | _Inline | None = None if start is None else self._new(start)

    @staticmethod
    def _new(workers: int) -> _Pool | _Inline:
        return _Pool(workers) if workers > 1 else _Inline()

    def use(self, workers: int) -> _Pool | _Inline:
        """A usable pool for `workers` (1: inline calls in this process)."""
        current = self._pool
        if current is not None and current.usable and _fits(current.workers, workers):
            return current
        if current is not None:
            current.close(wait=False)  # its workers only imported code, or it was released
        self._pool = self._new(workers)
        return self._pool

    def close(self) -> None:
        """Stop the workers and wait until none is running a task."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fits(have: int, need: int) -> bool:
    return have == need or (need > 1 and have > need)


def start_pool(params: str | Path) -> WorkerPool:
    """A pool sized from params.yaml's prepare.workers (all cores by default), starting its
    workers now; pass it to prepare()."""
    return WorkerPool(requested_workers(params) or available_cores())
