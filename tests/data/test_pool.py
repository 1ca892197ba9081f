"""The prepare stage's worker pool: sized from params before the config is validated,
started at once, resized when the validated settings differ, one thread per worker."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from stackseg.data import pool as pools


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prepare:\n  workers: 3\n", 3),
        ("prepare:\n  workers: 0\n", 0),
        ("prepare:\n  workers: -2\n", 0),
        ("prepare:\n  workers: true\n", 0),
        ("prepare:\n  workers: many\n", 0),
        ("prepare: {}\n", 0),
        ("seed: 1\n", 0),
        ("prepare: [\n", 0),  # not YAML: the config loader reports it
        ("", 0),
    ],
)
def test_requested_workers_reads_params_without_validating(tmp_path, text, expected):
    params = tmp_path / "params.yaml"
    params.write_text(text)
    assert pools.requested_workers(params) == expected


def test_requested_workers_of_a_missing_file_is_all_cores(tmp_path):
    assert pools.requested_workers(tmp_path / "absent.yaml") == 0


def _children() -> list[psutil.Process]:
    """Worker processes of this test process (not multiprocessing's resource tracker)."""
    workers = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:
            pass
    return workers


def _wait_for(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _worker_settings() -> tuple[str | None, int, bool]:
    import sys

    import cv2

    return (
        os.environ.get("OPENBLAS_NUM_THREADS"),
        cv2.getNumThreads(),
        "stackseg.data.worker" in (sys.modules),
    )


def test_pool_starts_its_workers_before_any_work_and_stops_them(tmp_path):
    before = {p.pid for p in _children()}
    with pools.WorkerPool(2) as pool:
        # no job submitted yet: the workers are starting while the parent does other things
        assert _wait_for(lambda: len({p.pid for p in _children()} - before) >= 2)
        runner = pool.use(2)
        assert pool.use(2) is runner  # same size: kept
        results = list(runner.map_unordered(_worker_settings, [(), ()]))
        # one BLAS and one OpenCV thread per worker; the pixel code was imported at start
        assert results == [("1", 1, True), ("1", 1, True)]
        workers = {p.pid for p in _children()} - before
    assert _wait_for(lambda: not any(psutil.pid_exists(pid) for pid in workers), 30)


def test_pool_is_replaced_when_the_settings_ask_for_another_size():
    with pools.WorkerPool(2) as pool:
        first = pool.use(2)
        inline = pool.use(1)
        assert inline is not first and inline.workers == 1
        # one worker: plain calls in this process, no child
        assert list(inline.map_unordered(os.getpid, [()])) == [os.getpid()]
        assert pool.use(3).workers == 3


def test_start_pool_is_sized_by_params(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("prepare:\n  workers: 1\n")
    with pools.start_pool(params) as pool:
        assert pool.use(1).workers == 1
        assert not _children()  # one worker runs inline: nothing was spawned
