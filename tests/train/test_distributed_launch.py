"""`stackseg train --local-workers N`'s supervisor, with stand-in workers (no training)."""

from __future__ import annotations

import sys
import time

import pytest

from stackseg.errors import StacksegError
from stackseg.train import launch

# worker 0 would run for a minute; worker 1 prints and fails at once
WORKER = (
    "import os, sys, time\n"
    "index = int(os.environ['KERAS_DISTRIBUTION_PROCESS_ID'])\n"
    "print('backend', os.environ['KERAS_BACKEND'], os.environ['KERAS_DISTRIBUTION_NUM_PROCESSES'],"
    " os.environ['JAX_COORDINATOR_BIND_ADDRESS'], flush=True)\n"
    "time.sleep(60) if index == 0 else sys.exit(7)\n"
)


def test_one_worker_failing_stops_all_with_one_line(capfd):
    start = time.monotonic()
    with pytest.raises(StacksegError) as failure:
        launch.run_workers([sys.executable, "-c", WORKER], 2)
    assert time.monotonic() - start < 30  # worker 0 was stopped, not waited for
    (line,) = failure.value.problems
    assert line.startswith("worker 1 of 2 exited with code 7")
    assert "all workers stopped" in line
    err = capfd.readouterr().err
    # each worker's lines are prefixed; the cluster variables were set for Keras on JAX
    assert "[worker 0] backend jax 2 127.0.0.1:" in err
    assert "[worker 1] backend jax 2 127.0.0.1:" in err


def test_all_workers_succeeding_returns(capfd):
    launch.run_workers([sys.executable, "-c", "print('done')"], 3)
    err = capfd.readouterr().err
    assert all(f"[worker {i}] done" in err for i in range(3))


def test_local_workers_must_be_positive(capsys):
    from stackseg.cli import main

    assert main(["train", "--local-workers", "0"]) == 2
    assert (
        "stackseg train: error: --local-workers must be 1 or more, not 0" in capsys.readouterr().err
    )
