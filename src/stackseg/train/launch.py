"""`stackseg train --local-workers N`: N data-parallel training processes on 127.0.0.1.

1. Pick a free port for the coordinator (process 0) on the loopback interface.
2. Start N `stackseg train` processes, each with KERAS_BACKEND=jax and Keras's cluster
   variables (distributed.py) in its environment, so the backend is chosen before Keras is
   imported.
3. Copy their output lines to this one, prefixed `[worker i]`.
4. When one fails, stop the others (SIGTERM, then SIGKILL) and fail with one line naming it.
   Outputs are the chief's, written through `stackseg.atomic` after training: a failed run
   leaves nothing half-written, and its resume checkpoint lets the next call go on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO

from stackseg.errors import StacksegError
from stackseg.train import distributed

LOOPBACK = "127.0.0.1"
POLL_S = 0.2
STOP_GRACE_S = 10.0  # SIGTERM first; SIGKILL for a worker still running after this


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def worker_env(index: int, workers: int, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            distributed.BACKEND_VAR: "jax",
            distributed.ADDRESSES_VAR: f"{LOOPBACK}:{port}",
            distributed.PROCESSES_VAR: str(workers),
            distributed.PROCESS_ID_VAR: str(index),
            # the coordinator listens on loopback only (jax's default: every interface)
            "JAX_COORDINATOR_BIND_ADDRESS": f"{LOOPBACK}:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _die_with_parent() -> None:
    """In the child: SIGTERM when the launcher dies (Linux), so no worker is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def _copy_lines(stream: IO[str], prefix: str, lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            sys.stderr.write(f"{prefix} {line}")
            sys.stderr.flush()


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_local(params: str, workers: int, verbose: bool = False) -> None:
    """Train with `workers` processes on this machine; returns when all have finished."""
    command = [sys.executable, "-m", "stackseg.cli", *(["-v"] if verbose else [])]
    run_workers([*command, "train", "--params", params], workers)


def run_workers(command: list[str], workers: int) -> None:
    """Run `command` as workers 0..N-1 of one cluster; fails when any of them fails."""
    port = free_port()
    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    threads = []
    try:
        for index in range(workers):
            proc = subprocess.Popen(
                command,
                env=worker_env(index, workers, port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=_die_with_parent,
            )
            procs.append(proc)
            assert proc.stdout is not None
            thread = threading.Thread(
                target=_copy_lines, args=(proc.stdout, f"[worker {index}]", lock), daemon=True
            )
            thread.start()
            threads.append(thread)
        failed = _wait(procs)
    finally:
        _stop(procs)
        for thread in threads:
            thread.join(timeout=5)
    if failed is not None:
        index, code = failed
        raise StacksegError(
            f"worker {index} of {workers} exited with code {code} (its lines above, "
            f"prefixed [worker {index}]); all workers stopped, no model written: fix the "
            "cause and rerun (training resumes from the last finished epoch)"
        )


def _wait(procs: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Until all exit 0 (None) or one fails: (its index, its exit code)."""
    while True:
        codes = [proc.poll() for proc in procs]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                return index, code
        if all(code == 0 for code in codes):
            return None
        time.sleep(POLL_S)
