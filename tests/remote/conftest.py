"""Fixtures for the remote-storage tests: loopback S3 servers and throw-away DVC projects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.s3server import S3Server, start_server
from tests.remote.helpers import add_project_remote, copy_project, git


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[Callable[..., S3Server]]:
    """Factory: start_server(kind) on a free 127.0.0.1 port; every server is stopped after."""
    servers: list[S3Server] = []

    def start(kind: str = "nanio") -> S3Server:
        name = f"{kind}-{len(servers)}"
        log = (tmp_path / f"{name}.log").open("w")
        data_dir = tmp_path / name if kind == "nanio" else None
        server = start_server(kind, data_dir=data_dir, output=log)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def pipeline_template(pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real pipeline run on tiny data, committed: raw tracked by data/raw.dvc, the
    project's S3 remote committed in .dvc/config (no endpoint: tests point their copy at a
    server). A copy of the session's `pipeline` project (tests/pipeline.py).

    Tests copy it (copy_project) rather than change it.
    """
    project = copy_project(pipeline, tmp_path_factory.mktemp("template") / "proj")
    add_project_remote(project)
    git(["add", "-A"], project)
    git(["commit", "-q", "-m", "the project's S3 remote"], project)
    return project
