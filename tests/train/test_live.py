"""dvclive set-up: never writes dvc.yaml, and an empty git repository gets a clear error."""

from __future__ import annotations

import subprocess

import pytest

from stackseg.errors import StacksegError
from stackseg.train.live import open_live


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def test_repo_without_commit_is_a_clear_error(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StacksegError, match="no commit yet.*git commit"):
        open_live("live", {"seed": 1})


def test_live_logs_params_and_never_writes_dvc_yaml(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    _git(
        tmp_path,
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    )
    monkeypatch.chdir(tmp_path)
    live = open_live("live", {"seed": 1})
    live.log_metric("loss", 0.5)
    live.next_step()
    live.end()
    assert (tmp_path / "live" / "params.yaml").read_text().strip() == "seed: 1"
    assert not list(tmp_path.rglob("dvc.yaml"))
