"""The prepare stage's worker processes: spawned after the config is loaded, one BLAS and
one OpenCV thread each, inline calls for one worker, stopped when the stage ends."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from stackseg.prepare import workers as pools


def _children() -> list[psutil.Process]:
    """Worker processes of this test process (not multiprocessing's resource tracker)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def _wait_for(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _worker_settings() -> tuple[str | None, int, bool, int]:
    import sys

    import cv2

    return (
        os.environ.get("OPENBLAS_NUM_THREADS"),
        cv2.getNumThreads(),
        "stackseg.prepare.pairs" in sys.modules,
        os.getpid(),
    )


def test_workers_run_one_thread_each_and_stop_with_the_stage():
    before = {p.pid for p in _children()}
    with pools.Workers(2) as workers:
        assert not workers.inline
        results = list(workers.map_unordered(_worker_settings, [(), (), (), ()]))
        # one BLAS and one OpenCV thread per worker; the pixel code was imported at start
        assert {result[:3] for result in results} == {("1", 1, True)}
        pids = {result[3] for result in results}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        spawned = {p.pid for p in _children()} - before
        assert pids <= spawned
    assert _wait_for(lambda: not any(psutil.pid_exists(pid) for pid in spawned), 30)


def test_one_worker_runs_inline_without_a_process():
    before = {p.pid for p in _children()}
    with pools.Workers(1) as workers:
        assert workers.inline
        assert list(workers.map_unordered(os.getpid, [()])) == [os.getpid()]
        assert not {p.pid for p in _children()} - before


def test_a_released_pool_still_hands_over_its_results():
    with pools.Workers(2) as workers:
        results = workers.map_unordered(abs, [(-1,), (-2,)])
        assert sorted(results) == [1, 2]
        workers.release()  # what the stage does before writing its manifest


@pytest.mark.parametrize(
    ("requested", "jobs", "expected"),
    [(3, 10, 3), (3, 2, 2), (5, 0, 1), (1, 10, 1)],
)
def test_worker_count_is_capped_by_the_work(requested, jobs, expected):
    assert pools.resolve_workers(requested, jobs) == expected


def test_zero_workers_means_all_cores():
    assert pools.resolve_workers(0, 1000) == pools.available_cores()


def test_a_worker_that_cannot_import_its_code_says_why(monkeypatch):
    # spawned workers start with this process's sys.path: put a broken cv2 first on it
    monkeypatch.syspath_prepend(_broken_cv2_dir())
    with (
        pools.Workers(2) as workers,
        pytest.raises(pools.StacksegError, match=r"could not start \(RuntimeError: broken cv2"),
    ):
        list(workers.map_unordered(abs, [(-1,)]))


def _broken_cv2_dir() -> str:
    import tempfile

    folder = tempfile.mkdtemp(prefix="broken-cv2-")
    with open(os.path.join(folder, "cv2.py"), "w") as handle:
        handle.write("raise RuntimeError('broken cv2 for the test')\n")
    return folder
