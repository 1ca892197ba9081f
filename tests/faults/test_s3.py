"""Faults around S3: a dead endpoint, the dev server's wrapper killed, its port taken.

The dead endpoint runs `dvc push` with the remote settings committed in .dvc/config; the
dev-server tests run `devtools/s3server.py` (what `make s3-dev` runs) as users do.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import devtools.s3server as s3server
from devtools.s3server import PortInUseError, start_server
from tests.remote.devserver import STARTUP_TIMEOUT, dev_server_command, launching
from tests.remote.helpers import committed_remote, dvc, make_data_project, point_at, s3_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

RELEASE_TIMEOUT = 5  # the bound: the port is free this long after the wrapper died
# One botocore attempt (AWS_MAX_ATTEMPTS=1) of each request, which s3fs tries 5 times: with the
# committed read_timeout (1 s) the push fails in ~10 s; with s3fs's default (15 s) it would
# take over 75 s. (With botocore's 5 attempts too, users see it fail in ~72 s: docs/remote.md.)
DEAD_PUSH_LIMIT = 45


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((s3server.HOST, port)) == 0


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def launch() -> Iterator:
    with launching() as start:
        yield start


def make_s3_dev(data_dir: Path) -> list[str]:
    """`make s3-dev` itself, without its install-dev step (-o: the test's venv is ready)."""
    flags = f"--port 0 --data-dir {data_dir}"
    return ["make", "--no-print-directory", "-o", "install-dev", "s3-dev", f"S3_DEV_FLAGS={flags}"]


@pytest.mark.parametrize("wrapper", ["s3server.py", "make s3-dev"])
def test_killing_the_wrapper_stops_the_server_and_frees_the_port(
    tmp_path: Path, launch, wrapper: str
):
    if wrapper == "make s3-dev":
        if shutil.which("make") is None:
            pytest.skip("make is not installed")
        # The Makefile puts .venv/bin first on PATH; without a .venv (a worktree) `python`
        # must still be this interpreter.
        env = s3_env(None)
        dev = launch(make_s3_dev(tmp_path / "s3"), env)
    else:
        dev = launch(dev_server_command(tmp_path / "s3", "--port", "0"))
    port = dev.port()
    procs = dev.tree()
    assert len(procs) >= 2 and port_is_open(port)

    dev.process.send_signal(signal.SIGKILL)  # the wrapper only: its children get no signal
    dev.process.wait(timeout=10)
    gone = wait_until(lambda: not any(p.is_running() for p in procs[1:]), RELEASE_TIMEOUT)
    alive = [" ".join(p.cmdline()[:4]) for p in procs[1:] if p.is_running()]
    assert gone, f"alive {RELEASE_TIMEOUT} s after the wrapper was killed: {alive}"
    assert not port_is_open(port), "the port is still held"


def test_a_taken_port_is_one_line_not_a_traceback(tmp_path: Path, launch):
    other = start_server("nanio", data_dir=tmp_path / "other", output=subprocess.DEVNULL)
    try:
        # another server with other keys on the port, as a MinIO or an old s3-dev would be
        dev = launch(dev_server_command(tmp_path / "s3", "--port", str(other.port)))
        assert dev.process.wait(timeout=STARTUP_TIMEOUT) == 1
        lines = []
        while (line := dev.lines.get(timeout=10)) is not None:
            lines.append(line)
        assert lines == [
            f"s3server: error: 127.0.0.1:{other.port} is already in use (another S3 server, "
            "MinIO or an earlier `make s3-dev`?): stop that process, or choose another port "
            "with --port N (--port 0 = any free port)"
        ]
        assert other.process.poll() is None, "the server already there was disturbed"
    finally:
        other.stop()


def test_a_port_taken_after_the_check_is_still_named(tmp_path: Path, monkeypatch):
    """The race the check cannot close: the other server answers our bucket request."""
    other = start_server("nanio", data_dir=tmp_path / "other", output=subprocess.DEVNULL)
    try:
        monkeypatch.setattr(s3server, "check_port_free", lambda port: None)
        with pytest.raises(PortInUseError, match=f":{other.port} is already in use"):
            start_server(
                "nanio", port=other.port, data_dir=tmp_path / "s3", output=subprocess.DEVNULL
            )
    finally:
        other.stop()


class SilentServer:
    """A TCP server that accepts connections and never answers: a hung or stopped S3 server.

    (A port with nothing listening fails faster: connections are refused at once.)
    """

    def __init__(self) -> None:
        self.sock = socket.create_server((s3server.HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed by close()
            while True:
                self.held.append(self.sock.accept()[0])

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_push_to_a_server_that_never_answers_fails_on_the_committed_read_timeout(
    tmp_path: Path,
):
    project = make_data_project(tmp_path / "proj", files=8)  # remote settings of .dvc/config
    from s3fs import S3FileSystem

    # the bound tells the committed read_timeout from s3fs's default
    assert int(committed_remote()["read_timeout"]) * S3FileSystem.retries < DEAD_PUSH_LIMIT / 3
    assert S3FileSystem.read_timeout * S3FileSystem.retries > DEAD_PUSH_LIMIT
    silent = SilentServer()
    try:
        point_at(project, f"http://{s3server.HOST}:{silent.port}")
        env = s3_env(
            None,
            AWS_ACCESS_KEY_ID="stackseg-test",
            AWS_SECRET_ACCESS_KEY="secret",
            AWS_MAX_ATTEMPTS="1",  # s3fs's own 5 tries are left: what the bound is made of
        )
        start = time.monotonic()
        proc = dvc(["push"], project, env, check=False, timeout=DEAD_PUSH_LIMIT + 60)
        took = time.monotonic() - start
    finally:
        silent.close()
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "ERROR" in output and "Read timeout on endpoint URL" in output, output
    assert "Traceback" not in output, output
    assert silent.held, "dvc never reached the server: the test tested nothing"
    assert took < DEAD_PUSH_LIMIT, f"dvc push took {took:.0f} s to give up"
