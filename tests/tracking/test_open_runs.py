"""A train stage that fails or is stopped does not leave its MLflow run RUNNING."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import pytest
import yaml

from stackseg.commands import train as train_command
from stackseg.config import config_from_dict
from stackseg.errors import InputDataError
from stackseg.tracking import hooks
from tests.conftest import tiny_params


def _params(root: Path) -> dict:
    return tiny_params(
        train={"reproducibility": "fast"},
        tracking={"mlflow": {"enabled": True, "uri": f"sqlite:///{root}/mlflow.db"}},
    )


def _status(root: Path, run_id: str) -> str:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db").get_run(run_id).info.status


@pytest.mark.slow  # MLflow creates its SQLite schema (~10 s)
def test_an_error_marks_the_run_failed_and_a_stop_killed(tmp_path: Path):
    cfg = config_from_dict(_params(tmp_path))
    failed, stopped = hooks.start_train(cfg, tmp_path), hooks.start_train(cfg, tmp_path)
    assert failed is not None and stopped is not None
    assert _status(tmp_path, failed.run_id) == "RUNNING"
    hooks.end_open_runs(InputDataError("bad frame"))  # ends both: the last one started first
    assert {_status(tmp_path, r.run_id) for r in (failed, stopped)} == {"FAILED"}
    stopped = hooks.start_train(cfg, tmp_path)
    assert stopped is not None
    hooks.end_open_runs(KeyboardInterrupt())  # Ctrl-C, and SIGTERM (cli.Terminated)
    assert _status(tmp_path, stopped.run_id) == "KILLED"
    hooks.end_open_runs(KeyboardInterrupt())  # nothing open: nothing to do
    assert not hooks._OPEN


def test_stackseg_train_ends_the_run_its_failed_stage_left_open(tmp_path: Path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(_params(tmp_path)))
    started: list[hooks.TrainRun] = []

    def failing_stage(cfg, replicas=None):  # the real stage's first MLflow step, then a failure
        run = hooks.start_train(cfg, tmp_path)
        assert run is not None
        started.append(run)
        raise InputDataError("data/prepared: a pair is damaged")

    fake = types.ModuleType("stackseg.train.stage")
    fake.run = failing_stage  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stackseg.train.stage", fake)
    monkeypatch.setattr("stackseg.train.stage", fake, raising=False)
    args = argparse.Namespace(params=str(params), local_workers=None, verbose=False)
    with pytest.raises(InputDataError):
        train_command.run(args)
    assert _status(tmp_path, started[0].run_id) == "FAILED"
