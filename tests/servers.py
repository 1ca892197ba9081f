"""Servers the tests start as subprocesses (`stackseg serve`, `stackseg dashboard`, the
container's command): a free port on 127.0.0.1, a bounded wait until ready, always stopped
(a signal, then a kill after a bounded wait), the log in every failure message.

    with serving(command, port, log, ready="/ready") as server:
        httpx.get(f"{server.url}/health")
    assert server.returncode == 0 and not server.killed
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import BIN

READY_WITHIN_S = 90  # imports and a model load on a loaded 2-core machine
STOP_WITHIN_S = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    """This environment, the venv's scripts first on PATH, no API key unless given."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("STACKSEG_API_KEY", None)
    return {**env, **extra}


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path
    killed: bool = False  # it did not stop within the bounded wait after the signal

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def text(self) -> str:
        """The server's log so far (its tail: failure messages stay readable)."""
        return self.log.read_text(errors="replace")[-6000:]

    def check_alive(self) -> None:
        assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.text()}"


def is_ready(path: str) -> Callable[[Server], bool]:
    """Ready when GET `path` answers 200."""

    def check(server: Server) -> bool:
        return httpx.get(f"{server.url}{path}", timeout=2).status_code == 200

    return check


def wait_until(server: Server, ready: Callable[[Server], bool], within: float) -> None:
    """Poll `ready` (connection errors: not yet) until it holds; fail with the log if the
    process exits or `within` seconds pass."""
    end = time.monotonic() + within
    while True:
        server.check_alive()
        try:
            if ready(server):
                return
        except httpx.TransportError:
            pass  # not listening yet
        assert time.monotonic() < end, f"not ready in {within:g} s:\n{server.text()}"
        time.sleep(0.1)


def stop(server: Server, sig: int = signal.SIGINT, within: float = STOP_WITHIN_S) -> None:
    """`sig`, then a kill if it has not exited within `within` s (`server.killed`)."""
    if server.proc.poll() is None:
        server.proc.send_signal(sig)
    try:
        server.proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        server.killed = True
        server.proc.kill()
        server.proc.wait(timeout=10)


def _default_ctrl_c() -> None:
    """In the child before exec: SIGINT's default action. A shell's background job (`make
    test &`, nohup) starts with SIGINT ignored, inherited through exec, and Python then never
    raises KeyboardInterrupt: the Ctrl-C the tests send would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def serving(
    command: list[str],
    port: int,
    log: Path,
    *,
    ready: str | Callable[[Server], bool] = "/ready",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    within: float = READY_WITHIN_S,
    stop_signal: int = signal.SIGINT,
    stop_within: float = STOP_WITHIN_S,
) -> Iterator[Server]:
    """`command` (listening on 127.0.0.1:`port`, output to `log`) until ready, yielded;
    stopped on exit whatever happened (`stop`)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or server_env(),
            cwd=cwd,
            preexec_fn=_default_ctrl_c,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_until(server, is_ready(ready) if isinstance(ready, str) else ready, within)
        yield server
    finally:
        stop(server, stop_signal, stop_within)
