"""The image's command, run outside Docker as the image would run it: the `baked` target's CMD
(Dockerfile) in a folder laid out like the image's WORKDIR (params.yaml, models/), on 127.0.0.1
and a free port instead of 0.0.0.0:8000, with the API key set as docker-compose.yml sets it,
and every module that requirements-serve.lock does not install blocked from import
(tests/container/locks.py). The Dockerfile's own HEALTHCHECK command must pass once the model
is loaded, a keyed request must be answered, and SIGTERM (`docker stop`) must end the server
cleanly."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import subprocess
import sys

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import ROOT
from tests.container.dockerfile import parse
from tests.container.locks import blocked_modules, blocker_dir
from tests.servers import STOP_WITHIN_S, free_port, server_env, serving


def image_commands() -> tuple[list[str], list[str]]:
    """The baked target's CMD and its HEALTHCHECK's command, as the Dockerfile writes them."""
    baked = parse((ROOT / "Dockerfile").read_text())[-1]
    cmd, check = baked.effective("CMD"), baked.effective("HEALTHCHECK")
    assert cmd is not None and check is not None
    return cmd.words(), check.check_command()


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    argv = list(argv)
    argv[argv.index(option) + 1] = value
    return argv


def png(height: int, width: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


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
    path = os.pathsep.join(
        [str(blocker_dir(tmp_path / "blocker")), os.environ.get("PYTHONPATH", "")]
    )
    env = server_env(
        PYTHONPATH=path,
        STACKSEG_TEST_BLOCKED=",".join(sorted(blocked_modules())),
        **{key_env: key},
    )
    # SIGTERM: what `docker stop` sends to the CMD (PID 1)
    with serving(
        argv, int(port), tmp_path / "serve.log", env=env, cwd=workdir, stop_signal=signal.SIGTERM
    ) as server:
        base = server.url
        # the container's HEALTHCHECK, as written (port 8000 -> this run's port); it sends no
        # API key, so /ready must answer without one
        check = [sys.executable if w == "python" else w for w in healthcheck]
        check = [w.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for w in check]
        assert subprocess.run(check, timeout=30).returncode == 0
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200

        files = {"file": ("frame.png", png(48, 48), "image/png")}
        assert httpx.post(f"{base}/predict", files=files, timeout=30).status_code == 401
        answer = httpx.post(f"{base}/predict", files=files, headers={"X-API-Key": key}, timeout=30)
        assert answer.status_code == 200, answer.text
        mask = Image.open(io.BytesIO(answer.content))
        assert answer.headers["content-type"] == "image/png" and mask.size == (48, 48)
    assert not server.killed, f"SIGTERM did not stop the server in {STOP_WITHIN_S} s"
    assert server.returncode == 0, server.text()
    assert key not in server.log.read_text(), "the API key must never be logged"
