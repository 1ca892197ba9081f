"""Queued experiments in parallel: `make data`, commit, `dvc exp run --queue` twice,
`dvc queue start -j 2`.

A queued experiment runs in a temporary clone under .dvc/tmp/exps that has only what git
and the DVC cache hold. data/raw is git-ignored, so it reaches the clone only as the
output of data/raw.dvc: without the `dvc add data/raw` in `make data`, prepare failed with
"No such file or directory: .dvc/tmp/exps/.../data/raw".

`dvc queue start` returns at once in a terminal, but its workers are forked from it and
keep its stdout and stderr open until they exit: captured through pipes (as
subprocess.run(capture_output=True) does) it returns only when the last worker has
stopped. Its output goes to a file here, and the test waits for the workers itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, make_project, run

pytestmark = pytest.mark.slow

LEARNING_RATES = {"lr-high": 0.01, "lr-low": 0.003}
JOBS = 2
QUEUE_TIMEOUT = 300  # seconds; the two tiny experiments take ~45 s on 2 cores


def _queue_rows(project: Path) -> dict[str, str]:
    """`dvc queue status` as {experiment name: status}."""
    out = run(["dvc", "queue", "status"], project).stdout
    rows = {}
    for line in out.splitlines()[1:]:  # header: Task Name Created Status
        fields = line.split()
        if not fields:
            break  # the blank line before "Worker status: ..."
        rows[fields[1]] = fields[-1]
    return rows


def _workers_running(project: Path) -> int:
    """Queue workers not yet stopped: each one's record (written by dvc-task's
    ManagedProcess, atomically) gets its exit code when it stops."""
    records = list((project / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.json"))
    running = sum(json.loads(record.read_text())["returncode"] is None for record in records)
    return running + JOBS - len(records)  # a worker without its record yet is starting


def _experiments_done(project: Path) -> int:
    """Experiments finished and collected: a git ref each (refs/exps/<base>/<name>)."""
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], project).stdout
    return sum(ref.rsplit("/", 1)[-1] in LEARNING_RATES for ref in refs.split())


def _wait_for_queue(project: Path) -> None:
    """Until both experiments are collected (or every worker stopped: one failed), then
    stop the workers; a worker left alone stops only ~10-20 s after the queue is empty."""
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while _experiments_done(project) < len(LEARNING_RATES) and _workers_running(project):
        if time.monotonic() > deadline:
            raise AssertionError(f"queue not done after {QUEUE_TIMEOUT} s: {_queue_rows(project)}")
        time.sleep(1)
    run(["dvc", "queue", "stop"], project)  # each worker stops after its current task
    while _workers_running(project):
        if time.monotonic() > deadline:
            raise AssertionError(f"workers still running after {QUEUE_TIMEOUT} s")
        time.sleep(0.5)


def test_queued_experiments_run_in_parallel_from_the_dvc_cache(tmp_path: Path):
    project = make_project(tmp_path / "proj", synth=False)
    # the user's `make data` step (its `install` prerequisite is this venv already)
    run(["make", "-f", str(ROOT / "Makefile"), "-o", "install", "data"], project)
    # data/raw is tracked by data/raw.dvc and its files are in the cache
    status = json.loads(run(["dvc", "data", "status", "--json"], project).stdout)
    assert status == {"committed": {"added": ["data/raw/"]}}
    assert run(["git", "check-ignore", "data/raw"], project).stdout.strip() == "data/raw"
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "tiny project, data/raw.dvc"], project)
    params = (project / "params.yaml").read_bytes()

    for name, rate in LEARNING_RATES.items():
        run(
            # through evaluate: the export stage adds a TensorFlow start-up per experiment
            # and nothing this test checks
            [
                "dvc",
                "exp",
                "run",
                "--queue",
                "-n",
                name,
                "-S",
                f"train.learning_rate={rate}",
                "evaluate",
            ],
            project,
        )
    started = tmp_path / "queue-start.log"
    try:
        with open(started, "w") as out:
            subprocess.run(
                ["dvc", "queue", "start", "-j", str(JOBS)],
                cwd=project,
                env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=True,
            )
        assert f"Started '{JOBS}' new experiments task queue workers." in started.read_text()
        _wait_for_queue(project)
    finally:
        if _workers_running(project):
            run(["dvc", "queue", "stop", "--kill"], project, check=False, timeout=120)
    statuses = _queue_rows(project)
    if statuses != dict.fromkeys(LEARNING_RATES, "Success"):
        logs = {
            name: run(["dvc", "queue", "logs", name], project, check=False) for name in statuses
        }
        raise AssertionError(
            {name: proc.stdout[-3000:] + proc.stderr[-3000:] for name, proc in logs.items()}
        )

    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = {
        exp["name"]: exp["revs"][0]["data"]
        for rev in shown
        for exp in rev.get("experiments") or []
        if exp.get("name") in LEARNING_RATES
    }
    assert set(experiments) == set(LEARNING_RATES)
    for name, rate in LEARNING_RATES.items():
        data = experiments[name]
        assert data["params"]["params.yaml"]["data"]["train"]["learning_rate"] == rate
        train = data["metrics"]["metrics/train/metrics.json"]["data"]
        fit = train["fit"]
        assert fit["train"]["learning_rate"] == pytest.approx(rate)  # what the optimizer used
        assert fit["best"]["epoch"] in (1, 2) and 0.0 <= fit["val"]["iou"] <= 1.0
        evaluate = data["metrics"]["metrics/evaluate.json"]["data"]
        assert set(evaluate["mean"]) >= {"iou", "dice"}
        assert all(0.0 <= value <= 1.0 for value in evaluate["mean"].values())
    final_loss = {
        name: data["metrics"]["metrics/train/metrics.json"]["data"]["fit"]["train"]["loss"]
        for name, data in experiments.items()
    }
    assert final_loss["lr-high"] != final_loss["lr-low"]

    # the queue ran elsewhere: the committed workspace is as it was
    assert (project / "params.yaml").read_bytes() == params
    assert run(["git", "status", "--porcelain"], project).stdout == ""
