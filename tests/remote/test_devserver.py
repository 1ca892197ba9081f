"""`make s3-dev` (python devtools/s3server.py): the environment it prints works."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.remote.devserver import Launched, dev_server_command, launching
from tests.remote.helpers import dvc, make_data_project, point_at, s3_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def port_is_open(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) == 0


@pytest.fixture
def dev_servers():
    """Starts the dev server (data dir, environment) as `make s3-dev` does; all killed after."""
    with launching() as launch:

        def start(data_dir: Path, env: dict[str, str]) -> Launched:
            return launch(dev_server_command(data_dir, "--port", "0"), env)

        yield start


def test_dev_server_prints_a_working_environment_and_keeps_objects_on_disk(
    tmp_path: Path, dev_servers
):
    data_dir = tmp_path / "s3-dev"
    project = make_data_project(tmp_path / "proj", files=4)

    first = dev_servers(data_dir, s3_env(None))
    exports, endpoint = first.printed_setup()
    assert endpoint.startswith("http://127.0.0.1:")
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= exports.keys()
    point_at(project, endpoint)
    assert "5 files pushed" in dvc(["push"], project, s3_env(None, **exports)).stdout
    assert list((data_dir / "stackseg" / "dvcstore").rglob("*.dir"))

    assert first.stop() == 0
    assert not port_is_open(endpoint), "the server outlived the dev command"

    # Restarted from a shell holding the printed exports: same key pair, objects still there.
    second = dev_servers(data_dir, s3_env(None, **exports))
    new_exports, new_endpoint = second.printed_setup()
    assert new_exports["AWS_SECRET_ACCESS_KEY"] == exports["AWS_SECRET_ACCESS_KEY"]
    point_at(project, new_endpoint)
    status = dvc(["status", "--cloud"], project, s3_env(None, **exports)).stdout
    assert "in sync" in status, status
