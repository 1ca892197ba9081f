"""The dev S3 server (devtools/s3server.py, what `make s3-dev` runs) launched as users do.

Shared by tests/remote/test_devserver.py (the environment it prints works) and
tests/faults/test_s3.py (killed wrappers, taken ports): one launcher, its output read line
by line in the background, every process it started stopped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from tests.conftest import ROOT

STARTUP_TIMEOUT = 60  # the dev server's start on 2 shared cores: imports, then the bucket
ENDPOINT_LINE = "dvc remote modify --local storage endpointurl "


def dev_server_command(data_dir: Path, *flags: str) -> list[str]:
    return [sys.executable, "devtools/s3server.py", "--data-dir", str(data_dir), *flags]


class Launched:
    """A command that starts the dev server, in its own process group (cwd: the project)."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
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
            elif line.startswith(ENDPOINT_LINE):
                return exports, line.split()[-1]
        raise TimeoutError("the dev server printed no endpoint")

    def port(self) -> int:
        """The port of the endpoint it prints once ready."""
        return int(self.printed_setup()[1].rsplit(":", 1)[1])

    def tree(self) -> list[psutil.Process]:
        """This process and all its descendants (the wrapper and the server it started)."""
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def stop(self) -> int:
        """SIGTERM to its process group, as Ctrl-C in a terminal would; its exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise

    def kill(self) -> None:
        """SIGKILL to it and every descendant (cleanup after a test, whatever it did)."""
        with contextlib.suppress(psutil.NoSuchProcess):
            for proc in reversed(self.tree()):
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
        self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def launching() -> Iterator[Callable[..., Launched]]:
    """A factory of Launched; on the way out every process it started (and their children)
    is killed."""
    launched: list[Launched] = []

    def start(command: list[str], env: dict[str, str] | None = None) -> Launched:
        launched.append(Launched(command, env))
        return launched[-1]

    try:
        yield start
    finally:
        for item in launched:
            item.kill()
