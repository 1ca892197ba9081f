"""A process pool over stacks, or plain calls in this process for one worker.

Workers are spawned, not forked: they start clean and import only the pixel code they
need (tifffile, OpenCV, the codecs), never the parent's config or anything heavier.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context

from stackseg.errors import StacksegError


def resolve_workers(requested: int, jobs: int) -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(requested or available or 1, jobs))


class _Pool:
    """Runs calls in worker processes (spawned: they import only the pixel code)."""

    def __init__(self, executor: ProcessPoolExecutor):
        self.executor = executor

    def map_unordered(self, function: Callable, items: Iterable[tuple]) -> Iterator:
        futures = [self.executor.submit(function, *args) for args in items]
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
        self.executor.shutdown(wait=False, cancel_futures=True)


class _Inline:
    def map_unordered(self, function: Callable, items: Iterable[tuple]) -> Iterator:
        for args in items:
            yield function(*args)

    def release(self) -> None:
        pass


@contextmanager
def worker_pool(workers: int) -> Iterator[_Pool | _Inline]:
    if workers <= 1:
        yield _Inline()
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as executor:
        yield _Pool(executor)
