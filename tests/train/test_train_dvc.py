"""The train stage under DVC: dvclive leaves dvc.yaml alone, dvc.lock is stable, dvc exp works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_project, run

pytestmark = pytest.mark.slow


def test_repro_twice_and_exp_run(tmp_path: Path):
    project = make_project(tmp_path / "proj")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "tiny project"], project)
    dvc_yaml = (project / "dvc.yaml").read_bytes()

    run(["dvc", "repro", "train"], project)
    assert (project / "dvc.yaml").read_bytes() == dvc_yaml
    assert not (project / "metrics/train/dvc.yaml").exists()
    lock = (project / "dvc.lock").read_text()
    card = (project / "models/model.json").read_text()
    assert '"code_commit": null' not in card  # a git repo: the training code's commit
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "results"], project)  # moves HEAD: must not matter

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
