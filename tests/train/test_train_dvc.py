"""The train stage under DVC: dvclive leaves dvc.yaml alone, dvc.lock is stable, dvc exp works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run
from tests.pipeline import copy_pipeline

pytestmark = pytest.mark.slow


def test_repro_twice_and_exp_run(pipeline: Path, tmp_path: Path):
    # after a first `dvc repro` whose results were committed, which moved HEAD (that must not
    # matter): the session's tiny project (tests/pipeline.py)
    project = copy_pipeline(pipeline, tmp_path / "proj")
    dvc_yaml = (ROOT / "dvc.yaml").read_bytes()
    assert (project / "dvc.yaml").read_bytes() == dvc_yaml
    assert not (project / "metrics/train/dvc.yaml").exists()
    lock = (project / "dvc.lock").read_text()
    card = (project / "models/model.json").read_text()
    assert '"code_commit": null' not in card  # a git repo: the training code's commit

    run(["dvc", "repro", "-f", "train"], project)
    assert (project / "dvc.lock").read_text() == lock
    assert run(["git", "status", "--porcelain"], project).stdout == ""

    run(["dvc", "exp", "run", "train", "-S", "train.epochs=1", "-n", "one-epoch"], project)
    assert (project / "dvc.yaml").read_bytes() == dvc_yaml
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = [
        exp
        for rev in shown
        for exp in rev.get("experiments") or []
        if exp.get("name") == "one-epoch"
    ]
    assert len(experiments) == 1
    data = experiments[0]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["epochs"] == 1
    summary = data["metrics"]["metrics/train/metrics.json"]["data"]
    assert summary["step"] == 0 and summary["fit"]["best"]["epoch"] == 1
