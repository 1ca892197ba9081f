"""The real server: `stackseg serve` under uvicorn on 127.0.0.1 in a subprocess (a free
port, a bounded wait, stopped in `finally`), 32 concurrent clients, a chunked upload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import imagecodecs
import numpy as np
import pytest

from tests.conftest import BIN
from tests.serve.conftest import infer_outputs, png_bytes, write_params
from tests.servers import free_port, serving

CLIENTS, REQUESTS = 32, 4


@pytest.fixture(scope="module")
def server(model_dir, trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-server")
    params = write_params(folder, trained.params, max_body_bytes=1 << 20)
    port = free_port()
    command = [str(BIN / "stackseg"), "serve", "--params", str(params)]
    command += ["--model", str(model_dir / "model.keras"), "--port", str(port)]
    with serving(command, port, folder / "server.log", cwd=folder) as server:
        yield server.url, server.log


@pytest.mark.slow
def test_concurrent_clients_get_the_in_process_masks(server, frames, model_dir, trained, tmp_path):
    url, log = server
    images = {}
    for index, frame in enumerate(frames):
        for turn in range(2):  # 8 distinct images: flipped frames are new inputs
            image = np.ascontiguousarray(frame[:, ::-1] if turn else frame)
            path = tmp_path / f"in{index}{turn}.png"
            path.write_bytes(png_bytes(image))
            images[path.stem] = path
    params = write_params(tmp_path, trained.params)
    out = infer_outputs(model_dir, params, list(images.values()), tmp_path / "out", png=True)
    expected = {
        stem: imagecodecs.png_decode((out / f"{stem}.masks/{stem}_f0000.png").read_bytes())
        for stem in images
    }

    def client(number: int) -> list[str]:
        problems = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for turn in range(REQUESTS):
                stem = list(images)[(number + turn) % len(images)]
                answer = http.post("/predict", files={"file": ("f", images[stem].read_bytes())})
                if answer.status_code != 200:
                    problems.append(f"{stem}: {answer.status_code} {answer.text}")
                elif not np.array_equal(imagecodecs.png_decode(answer.content), expected[stem]):
                    problems.append(f"{stem}: a different mask")
        return problems

    with ThreadPoolExecutor(CLIENTS) as pool:
        problems = [p for found in pool.map(client, range(CLIENTS)) for p in found]
    assert problems == []
    metrics = httpx.get(f"{url}/metrics").text
    total = f'stackseg_requests_total{{endpoint="/predict",method="POST",status="200"}} {CLIENTS * REQUESTS}.0'
    assert total in metrics
    lines = log.read_text().splitlines()
    assert any('"path": "/predict"' in line and '"status": 200' in line for line in lines)


def test_chunked_upload_over_the_limit_and_the_ready_server(server):
    url, _ = server
    sent = []

    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
        for _ in range(4 * 1024):
            sent.append(1)
            yield b"\0" * 1024
        yield b"\r\n--b--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=b"}
    try:
        answer = httpx.post(f"{url}/predict", content=chunks(), headers=headers, timeout=30)
    except httpx.TransportError:  # the server may close before the client sent it all
        answer = None
    if answer is None:  # cut off: then before the whole body was sent
        assert len(sent) < 4 * 1024
    else:
        assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{url}/model").json()["backend"] == "onnx"
