"""`make s3-dev` (python devtools/s3server.py): the environment it prints works."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.remote.helpers import dvc, make_data_project, point_at, s3_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

STARTUP_TIMEOUT = 60


class DevServer:
    """The dev command as a user runs it, in its own process group, stopped by SIGTERM."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "devtools/s3server.py"), "--port", "0"]
            + ["--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def printed_setup(self) -> tuple[dict[str, str], str]:
        """The `export NAME=value` variables and the endpoint of the printed dvc command."""
        exports: dict[str, str] = {}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            line = self.lines.get(timeout=remaining)
            assert line is not None, "the dev server exited before printing its setup"
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                exports[name] = value
            elif line.startswith("dvc remote modify --local storage endpointurl "):
                return exports, line.split()[-1]
        raise TimeoutError("the dev server printed no endpoint")

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise


def port_is_open(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) == 0


@pytest.fixture
def dev_servers():
    started: list[DevServer] = []

    def start(data_dir: Path, env: dict[str, str]) -> DevServer:
        started.append(DevServer(data_dir, env))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop()


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
