"""Status endpoints, limits and errors: every refusal is a JSON error with a request id,
and neither payloads nor the API key reach the log."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient

from stackseg.serve.middleware import JsonFormatter
from tests.serve.conftest import (
    bomb_jpeg,
    bomb_png,
    bomb_tiff,
    make_app,
    png_bytes,
    tiff_bytes,
    wait_ready,
    write_params,
)


def assert_error(answer, status: int, error: str, *words: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "detail", "request_id"}
    assert body["error"] == error
    assert body["request_id"] == answer.headers["x-request-id"]
    for word in words:
        assert word in body["detail"]
    return body


def test_health_ready_model_and_docs(client, card):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    model = client.get("/model").json()
    assert model["classes"] == list(card.classes) and model["backend"] == "onnx"
    assert model["card"]["lineage"] == card.lineage.model_dump(mode="json")
    assert model["card"]["input"]["channels"] == 1
    schema = client.get("/openapi.json").json()
    assert (
        "example"
        in schema["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    )
    assert client.get("/docs").status_code == 200


def test_not_ready_before_the_lifespan_ran(model_dir, serve_params):
    bare = TestClient(make_app(model_dir, serve_params))  # no `with`: no lifespan
    assert bare.get("/health").status_code == 200
    assert_error(bare.get("/ready"), 503, "not_ready", "loading")
    png = png_bytes(np.zeros((16, 16), np.uint8))
    assert_error(bare.post("/predict", files={"file": ("f", png)}), 503, "not_ready")


def test_a_model_that_fails_to_load_says_why(model_dir, serve_params, tmp_path):
    import shutil

    for name in ("model.keras", "model.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with TestClient(make_app(tmp_path, serve_params)) as broken:
        for _ in range(200):
            body = broken.get("/ready").json()
            if "failed" in body["detail"]:
                break
        assert "failed to load" in body["detail"] and "model.onnx" in body["detail"]


@pytest.mark.parametrize(
    ("data", "status", "error", "words"),
    [
        (b"just some text, not an image", 415, "unsupported_media_type", ["PNG, JPEG or TIFF"]),
        (png_bytes(np.zeros((32, 32), np.uint8))[:60], 422, "invalid_input", ["the upload"]),
        (
            tiff_bytes(np.zeros((32, 32), np.uint8))[:-300],
            422,
            "invalid_input",
            ["the upload", "truncated"],
        ),
        (bomb_tiff(60000, 60000), 413, "too_many_pixels", ["60000 x 60000"]),
        (bomb_png(60000, 60000), 413, "too_many_pixels", ["60000 x 60000"]),
        (bomb_jpeg(9000, 9000), 413, "too_many_pixels", ["9000 x 9000", "serve.max_pixels"]),
        (png_bytes(np.zeros((32, 32, 3), np.uint8)), 422, "invalid_input", ["RGB", "1-channel"]),
        (tiff_bytes(np.zeros((3, 32, 32), np.uint8)), 422, "invalid_input", ["/predict/stack"]),
    ],
    ids=[
        "text",
        "damaged-png",
        "truncated-tiff",
        "tiff-bomb",
        "png-bomb",
        "jpeg-bomb",
        "rgb",
        "stack",
    ],
)
def test_bad_uploads(client, data, status, error, words):
    assert len(data) < 10_000
    answer = client.post("/predict", files={"file": ("frame.png", data, "image/png")})
    body = assert_error(answer, status, error, *words)
    assert "/tmp" not in body["detail"] and "stackseg-serve-" not in body["detail"]


def test_bad_queries_and_paths(client):
    png = png_bytes(np.zeros((16, 16), np.uint8))
    answer = client.post("/predict?probabilities=true", files={"file": ("f", png)})
    assert_error(answer, 422, "invalid_request", "format=tiff")
    assert_error(
        client.post("/predict?format=gif", files={"file": ("f", png)}), 422, "invalid_request"
    )
    assert_error(client.post("/predict"), 422, "invalid_request", "file")
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.get("/predict"), 405, "method_not_allowed")


def test_body_over_the_limit_is_refused_before_it_is_read(model_dir, trained, tmp_path):
    params = write_params(tmp_path, trained.params, max_body_bytes=4096)
    body = png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
    assert len(body) > 4096

    def chunks():  # a chunked upload (no Content-Length): counted as it arrives
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
        for _ in range(64):
            yield b"\0" * 1024
        yield b"\r\n--b--\r\n"

    with TestClient(make_app(model_dir, params)) as small:
        answer = small.post("/predict", files={"file": ("f", body)})
        assert_error(answer, 413, "too_large", "4096 bytes")
        headers = {"content-type": "multipart/form-data; boundary=b"}
        answer = small.post("/predict/stack", content=chunks(), headers=headers)
        assert "content-length" not in answer.request.headers
        assert_error(answer, 413, "too_large")


def test_timeout_is_504(model_dir, trained, tmp_path, frames):
    params = write_params(tmp_path, trained.params, timeout_s=0.05)
    stack = tiff_bytes(np.stack([np.tile(f, (2, 2)) for f in frames] * 10))
    with TestClient(make_app(model_dir, params)) as slow:
        wait_ready(slow)
        answer = slow.post("/predict/stack", files={"file": ("s", stack)})
        assert_error(answer, 504, "timeout", "serve.timeout_s")
        assert 'stackseg_errors_total{endpoint="/predict/stack",error="timeout"} 1.0' in (
            slow.get("/metrics").text
        )


def test_api_key(model_dir, trained, tmp_path, monkeypatch, caplog):
    params = write_params(tmp_path, trained.params, api_key_env="SERVE_TEST_KEY")
    secret = "s3cret-key-that-must-not-leak"
    monkeypatch.setenv("SERVE_TEST_KEY", secret)
    png = png_bytes(np.zeros((16, 16), np.uint8))
    caplog.set_level(logging.INFO, logger="stackseg")
    with TestClient(make_app(model_dir, params)) as keyed:
        wait_ready(keyed)
        assert keyed.get("/health").status_code == 200
        assert keyed.get("/ready").status_code == 200
        assert_error(keyed.get("/model"), 401, "unauthorized", "X-API-Key")
        answer = keyed.post("/predict", files={"file": ("f", png)})
        assert_error(answer, 401, "unauthorized")
        wrong = {"X-API-Key": secret[:-1] + "X"}
        assert_error(
            keyed.post("/predict", files={"file": ("f", png)}, headers=wrong), 401, "unauthorized"
        )
        right = {"X-API-Key": secret}
        assert keyed.post("/predict", files={"file": ("f", png)}, headers=right).status_code == 200
        assert keyed.get("/model", headers=right).status_code == 200
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert '"status": 401' in logged and '"status": 200' in logged
    assert secret not in logged and secret not in caplog.text
    monkeypatch.setenv("SERVE_TEST_KEY", "")  # set but empty: no key
    with TestClient(make_app(model_dir, params)) as open_app:
        wait_ready(open_app)
        assert open_app.get("/model").status_code == 200


def test_request_ids_logs_and_metrics(client, caplog):
    caplog.set_level(logging.INFO, logger="stackseg")
    payload = png_bytes(np.full((16, 16), 7, np.uint8))
    answer = client.post(
        "/predict",
        files={"file": ("secret-name.png", payload)},
        headers={"X-Request-ID": "abc-123"},
    )
    assert answer.headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
    assert len(generated) == 32 and generated.isalnum()
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "stackseg.serve.access"]
    assert any('"request_id": "abc-123"' in line and '"path": "/predict"' in line for line in lines)
    assert not any("secret-name" in line for line in lines)
    text = client.get("/metrics").text
    assert 'stackseg_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert 'stackseg_request_duration_seconds_bucket{endpoint="/predict",le="0.5"}' in text
    assert 'stackseg_requests_in_flight{endpoint="/metrics"} 1.0' in text
