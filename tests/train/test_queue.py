"""Queued experiments: `make data`, commit, `dvc exp run --queue` twice, `dvc queue start`.

A queued experiment runs in a temporary clone under .dvc/tmp/exps that has only what git
and the DVC cache hold. data/raw is git-ignored, so it reaches the clone only as the
output of data/raw.dvc: without the `dvc add data/raw` in `make data`, prepare failed with
"No such file or directory: .dvc/tmp/exps/.../data/raw".
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_project, run

pytestmark = pytest.mark.slow

LEARNING_RATES = {"lr-high": 0.01, "lr-low": 0.003}
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


def _wait_for_queue(project: Path) -> dict[str, str]:
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while True:
        rows = _queue_rows(project)
        if rows and not {"Queued", "Running"} & set(rows.values()):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"queue not done after {QUEUE_TIMEOUT} s: {rows}")
        time.sleep(2)


def test_queued_experiments_run_from_the_dvc_cache(tmp_path: Path):
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
    try:
        run(["dvc", "queue", "start", "-j", "1"], project)
        statuses = _wait_for_queue(project)
    finally:
        run(["dvc", "queue", "stop", "--kill"], project, check=False, timeout=120)
    logs = {name: run(["dvc", "queue", "logs", name], project, check=False) for name in statuses}
    assert statuses == dict.fromkeys(LEARNING_RATES, "Success"), {
        name: proc.stdout[-3000:] + proc.stderr[-3000:] for name, proc in logs.items()
    }

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
