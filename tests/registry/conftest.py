"""Fixtures for the registry tests: the session's trained project made registrable, and a
loopback S3 server (nanio) as its DVC remote.

The `trained` fixture ran its stages with `stackseg <stage>`, not `dvc repro`: there is no
dvc.lock and nothing is committed. `registrable` records the stages it ran (`dvc commit`,
which hashes without running anything), copies the project's .gto and commits it all.
The stages after evaluate (export, reference, drift) are dropped from that copy's dvc.yaml:
the fixture never ran them, and `dvc exp save` (tests/registry/test_select.py) refuses a
stage whose outputs or dependencies are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devtools.s3server import S3Server, start_server
from tests.conftest import ROOT, run
from tests.remote.helpers import add_project_remote, git, point_at, s3_env

RAN = ("prepare", "train", "evaluate")  # the stages tests/trained.py ran


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A nanio server (credentials checked, objects on disk) for this test module."""
    data = tmp_path_factory.mktemp("nanio")
    server = start_server("nanio", data_dir=data, output=subprocess.DEVNULL)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registrable(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of the trained project: dvc.lock, .gto, the S3 remote (no endpoint).

    Tests copy it (`copy_of`, which points the copy at their server) before they register.
    """
    root = tmp_path_factory.mktemp("registrable") / "proj"
    shutil.copytree(trained.root, root, symlinks=True)
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    for stage in list(dvc_yaml["stages"]):
        if stage not in RAN:
            dvc_yaml["stages"].pop(stage)
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    shutil.copy(ROOT / ".gto", root / ".gto")
    add_project_remote(root)
    run(["dvc", "commit", "-f", *RAN], root, env=s3_env(None))
    git(["add", "-A"], root)
    git(["commit", "-q", "-m", "tiny quality project: dvc.lock, .gto, remote"], root)
    return root


def copy_of(project: Path, dest: Path, server: S3Server | None = None) -> Path:
    """A copy of `project`; with `server`, its remote's endpoint is that server (in the
    git-ignored .dvc/config.local, as a user's would be)."""
    shutil.copytree(project, dest, symlinks=True)
    if server is not None:
        point_at(dest, server.endpoint)
    return dest


def tags(root: Path) -> list[str]:
    return git(["tag", "--list"], root).split()


def tag_message(root: Path, tag: str) -> str:
    return git(["tag", "--list", "--format=%(contents)", tag], root).strip()
