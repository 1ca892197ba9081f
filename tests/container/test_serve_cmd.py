"""The image's command, run outside Docker: the `baked` target's CMD (Dockerfile) in a folder
laid out like the image's WORKDIR (params.yaml, models/), on 127.0.0.1 and a free port instead
of 0.0.0.0:8000, with the API key set as docker-compose.yml sets it. The Dockerfile's own
HEALTHCHECK command must pass once the model is loaded, and SIGTERM (`docker stop`) must end
the server cleanly."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.conftest import BIN, ROOT
from tests.container.dockerfile import parse

READY_WITHIN_S = 90  # imports and the model load on a loaded 2-core machine
STOP_WITHIN_S = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def image_commands() -> tuple[list[str], list[str]]:
    """The baked target's CMD and its HEALTHCHECK's command, as the Dockerfile writes them."""
    baked = parse((ROOT / "Dockerfile").read_text())[-1]
    cmd, check = baked.effective("CMD"), baked.effective("HEALTHCHECK")
    assert cmd is not None and check is not None
    _, words = check.flags()
    return cmd.words(), parse("FROM x\nCMD " + " ".join(words[1:]))[0].own("CMD")[0].words()


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    argv = list(argv)
    argv[argv.index(option) + 1] = value
    return argv


def status(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_the_image_command_serves_the_model_outside_docker(model_dir, tmp_path):
    workdir = tmp_path / "srv"
    (workdir / "models").mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", workdir / "params.yaml")  # COPY params.yaml ./
    for name in ("model.keras", "model.json", "model.onnx"):
        shutil.copy(model_dir / name, workdir / "models" / name)
    key_env = yaml.safe_load((ROOT / "params.yaml").read_text())["serve"]["api_key_env"]
    key = secrets.token_hex(16)

    cmd, healthcheck = image_commands()
    port = str(free_port())
    argv = with_option(with_option(cmd, "--host", "127.0.0.1"), "--port", port)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", key_env: key}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        while True:
            assert server.poll() is None, f"{argv} exited {server.returncode}:\n{log.read_text()}"
            try:
                if status(f"{base}/ready") == 200:
                    break
            except OSError:
                pass  # not listening yet
            assert time.monotonic() < deadline, (
                f"not ready in {READY_WITHIN_S} s:\n{log.read_text()}"
            )
            time.sleep(0.2)

        # the container's HEALTHCHECK, as written (port 8000 -> this run's port); it sends no
        # API key, so /ready must answer without one
        check = [sys.executable if w == "python" else w for w in healthcheck]
        check = [w.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for w in check]
        assert subprocess.run(check, env=env, timeout=30).returncode == 0
        assert status(f"{base}/health") == 200
        # the key from the environment is enforced
        assert status(f"{base}/predict", data=b"\x89PNG\r\n\x1a\n") == 401
    finally:
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends to the CMD (PID 1)
        try:
            server.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail(f"SIGTERM did not stop the server in {STOP_WITHIN_S} s")
    assert server.returncode == 0, log.read_text()
    assert key not in log.read_text(), "the API key must never be logged"
