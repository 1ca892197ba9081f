"""`stackseg serve --workers 2`: two uvicorn worker processes on 127.0.0.1 (a free port, a
bounded wait, stopped in `finally`) and ONE /metrics over both (Prometheus multiprocess
mode in a folder the command makes and removes)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import imagecodecs
import pytest

from tests.conftest import BIN
from tests.serve.conftest import png_bytes, write_params
from tests.servers import Server, free_port, server_env, serving, wait_until

CLIENTS, REQUESTS = 4, 4
COUNT = re.compile(
    r'^stackseg_requests_total\{endpoint="/predict",method="POST",status="200"\} (\S+)$', re.M
)


def predictions(path) -> float:
    """The /predict 200s one worker counted (its prometheus_client multiprocess file)."""
    from prometheus_client.mmap_dict import MmapedDict

    total = 0.0
    for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
        _, name, labels, _ = json.loads(key)
        if name == "stackseg_requests_total" and labels.get("endpoint") == "/predict":
            total += value if labels.get("status") == "200" else 0.0
    return total


def both_ready(server: Server) -> bool:
    """Ready on new connections, 8 times in a row: each may be accepted by either worker."""
    answers = (httpx.get(f"{server.url}/ready", timeout=2) for _ in range(8))
    return all(answer.status_code == 200 for answer in answers)


@pytest.mark.slow
def test_two_workers_share_one_metrics(model_dir, trained, frames, tmp_path):
    params = write_params(tmp_path, trained.params, threads=1)
    temp = tmp_path / "tmp"  # the server's TMPDIR: where its metrics folder goes
    temp.mkdir()
    port = free_port()
    command = [str(BIN / "stackseg"), "serve", "--params", str(params), "--workers", "2"]
    command += ["--model", str(model_dir / "model.keras"), "--port", str(port)]
    env = server_env(TMPDIR=str(temp))
    with serving(
        command,
        port,
        tmp_path / "server.log",
        ready=both_ready,
        env=env,
        within=120,
        stop_within=30,
    ) as server:
        url = server.url
        [folder] = list(temp.glob("stackseg-metrics-*"))
        data = png_bytes(frames[0])

        def client(number: int) -> list[int]:
            statuses = []
            for _ in range(REQUESTS):  # a new connection each: the workers share them out
                answer = httpx.post(f"{url}/predict", files={"file": ("f", data)}, timeout=60)
                imagecodecs.png_decode(answer.content)
                statuses.append(answer.status_code)
            return statuses

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for found in pool.map(client, range(CLIENTS)) for s in found]
        assert statuses == [200] * CLIENTS * REQUESTS
        # each worker counts in its own file (one per pid): both answered /predict
        per_worker = [predictions(path) for path in sorted(folder.glob("counter_*.db"))]
        assert len(per_worker) == 2 and min(per_worker) > 0, per_worker
        assert sum(per_worker) == CLIENTS * REQUESTS
        for _ in range(4):  # whichever worker answers /metrics, it counts both
            text = httpx.get(f"{url}/metrics", timeout=10).text
            assert COUNT.findall(text) == [f"{CLIENTS * REQUESTS}.0"]
            assert "stackseg_drift_dropped_frames_total 0.0" in text

        def window_is_everyone(server: Server) -> bool:  # each worker: the frames of both
            texts = [httpx.get(f"{server.url}/metrics", timeout=10).text for _ in range(6)]
            return all(f"stackseg_drift_frames {CLIENTS * REQUESTS}.0" in t for t in texts)

        wait_until(server, window_is_everyone, 30)  # the rows are shared within ~0.1 s
    assert server.returncode == 0 and not server.killed, server.text()
    assert list(temp.glob("stackseg-metrics-*")) == []  # removed at exit
