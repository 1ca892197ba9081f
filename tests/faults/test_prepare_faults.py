"""Faults around a running `stackseg prepare`: killed with SIGKILL, or started twice at once.

The tests run prepare as a real process (the `stackseg` CLI in a subprocess) on random
uint8 stacks, and stop every process they started, whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.prepare.stacks import make_raw, write_params

pytestmark = pytest.mark.slow

# seconds a worker (or the resource tracker) may outlive a killed stage
ORPHAN_SECONDS = 5


def _start_prepare(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stackseg.cli", "prepare"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # dead, waiting to be reaped
    except psutil.NoSuchProcess:
        return True


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in parent.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def _temp_dirs(root: Path) -> list[Path]:
    return sorted((root / "data").glob(".prepared.tmp-*"))


def _stop_all(processes) -> None:
    for process in processes:
        try:
            process.kill()
            process.wait(5)
        except (psutil.Error, subprocess.TimeoutExpired, ProcessLookupError):
            pass


def test_workers_and_resource_tracker_die_with_a_killed_prepare(tmp_path):
    make_raw(tmp_path, stacks=4, frames=200, height=128, width=128)
    write_params(tmp_path, workers=2)
    proc = _start_prepare(tmp_path)
    stage = psutil.Process(proc.pid)
    family: list[psutil.Process] = []
    try:
        # killed while its workers write pairs into the temporary directory
        assert _wait_for(lambda: len(_workers(stage)) == 2 and _temp_dirs(tmp_path)), (
            "prepare never started its 2 workers"
        )
        family = stage.children(recursive=True)  # workers and resource tracker
        proc.kill()
        proc.wait(5)
        assert _wait_for(lambda: all(_gone(p) for p in family), ORPHAN_SECONDS), (
            f"still running {ORPHAN_SECONDS} s after prepare was killed: "
            f"{[p.pid for p in family if not _gone(p)]}"
        )
    finally:
        _stop_all([proc, *family])


def test_the_watchdog_alone_ends_a_worker_whose_parent_is_gone():
    # the parent-death signal is the first line; this is the one behind it (a worker that
    # missed the signal, or a system without prctl)
    # the parent's PID comes from the parent, as the pool's initargs do (asked by the worker
    # after the parent died, getppid would already name the new parent)
    worker = (
        "import os, sys; from stackseg.prepare import workers; "
        "print(os.getpid(), flush=True); workers._watch(int(sys.argv[1]))"
    )
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time; "
            f"subprocess.Popen([sys.executable, '-c', {worker!r}, str(os.getpid())]); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = None
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        parent.kill()
        parent.wait(5)
        assert _wait_for(lambda: _gone(child), ORPHAN_SECONDS)
    finally:
        _stop_all([parent] + ([child] if child else []))


@pytest.mark.parametrize(
    "path",
    ["data/.prepared.tmp-123-abc/x", "data/.prepared.old-123-abc", "data/.prepared.lock"],
)
def test_a_killed_runs_leftovers_are_ignored_by_git_and_dvc(path):
    root = Path(__file__).resolve().parents[2]
    for tool in (["git", "check-ignore", "--no-index", "-q"], ["dvc", "check-ignore", "-q"]):
        found = subprocess.run(
            [*tool, path], cwd=root, capture_output=True, text=True, env=_tools_env()
        )
        assert found.returncode == 0, f"{tool[0]} does not ignore {path}: {found.stderr}"


def _tools_env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # dvc of this environment
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_a_second_prepare_is_refused_while_the_first_runs(tmp_path):
    make_raw(tmp_path, stacks=4, frames=100, height=128, width=128)
    write_params(tmp_path, workers=2)
    lock = tmp_path / "data" / ".prepared.lock"
    first = _start_prepare(tmp_path)
    try:
        assert _wait_for(lambda: lock.exists() and _temp_dirs(tmp_path)), "first never started"
        # held still while the second runs: the test does not depend on the machine's speed
        first.send_signal(signal.SIGSTOP)
        building = _temp_dirs(tmp_path)
        second = subprocess.run(
            [sys.executable, "-m", "stackseg.cli", "prepare"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        errors = [line for line in second.stderr.splitlines() if ": error:" in line]
        assert second.returncode == 5, second.stderr
        assert errors == [
            f"stackseg prepare: error: data/prepared: another `stackseg prepare` "
            f"(pid {first.pid}) is writing it; wait for it to finish (or stop it) and rerun"
        ]
        assert "Traceback" not in second.stderr
        assert _temp_dirs(tmp_path) == building  # the first's work was left alone
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
        _stop_all([first])
    assert first.returncode == 0, err
    assert "400 pairs from 4 stacks" in err
    # done and unlocked: nothing of either run is left beside the output
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["prepared", "raw"]
    assert (tmp_path / "data" / "prepared" / "manifest.json").is_file()
