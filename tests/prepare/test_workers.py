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
    before = {p.pid for p in _children()}
    with pools.WorkerPool(2) as pool:
        first = pool.use(2)
        inline = pool.use(1)
        assert inline is not first and inline.workers == 1
        assert not first.usable  # the replaced pool was shut down
        # one worker: plain calls in this process, no child
        assert list(inline.map_unordered(os.getpid, [()])) == [os.getpid()]
        first_pids = {p.pid for p in _children()} - before
        assert _wait_for(lambda: not any(psutil.pid_exists(pid) for pid in first_pids), 30)
        bigger = pool.use(3)
        assert bigger is not inline
        # three new worker processes, started before any task of theirs
        assert _wait_for(lambda: len({p.pid for p in _children()} - before) >= 3)
        assert list(bigger.map_unordered(abs, [(-3,)])) == [3]


def test_a_bigger_pool_is_kept_for_fewer_stacks_than_workers():
    with pools.WorkerPool(3) as pool:
        started = pool.use(3)
        # one stack on three cores: two workers are enough, the third stays idle
        assert pool.use(2) is started


def test_a_released_pool_is_replaced_by_the_next_use():
    with pools.WorkerPool(2) as pool:
        first = pool.use(2)
        assert list(first.map_unordered(abs, [(-1,)])) == [1]
        first.release()  # what prepare() does before writing its manifest
        second = pool.use(2)
        assert second is not first
        assert list(second.map_unordered(abs, [(-2,)])) == [2]


def test_a_worker_that_cannot_import_its_code_says_why(monkeypatch):
    # spawned workers start with this process's sys.path: put a broken cv2 first on it
    monkeypatch.syspath_prepend(_broken_cv2_dir())
    with (
        pools.WorkerPool(2) as pool,
        pytest.raises(pools.StacksegError, match=r"could not start \(RuntimeError: broken cv2"),
    ):
        list(pool.use(2).map_unordered(abs, [(-1,)]))


def _broken_cv2_dir() -> str:
    import tempfile

    folder = tempfile.mkdtemp(prefix="broken-cv2-")
    with open(os.path.join(folder, "cv2.py"), "w") as handle:
        handle.write("raise RuntimeError('broken cv2 for the test')\n")
    return folder


def test_start_pool_is_sized_by_params(tmp_path):
    params = tmp_path / "params.yaml"
    before = {p.pid for p in _children()}
    params.write_text("prepare:\n  workers: 1\n")
    with pools.start_pool(params) as pool:
        assert isinstance(pool.use(1), pools._Inline)  # started inline: nothing spawned
        assert not {p.pid for p in _children()} - before
    params.write_text("prepare:\n  workers: 3\n")
    with pools.start_pool(params) as pool:
        # started with three workers before any use() call
        assert _wait_for(lambda: len({p.pid for p in _children()} - before) >= 3)
        assert pool.use(3).workers == 3
