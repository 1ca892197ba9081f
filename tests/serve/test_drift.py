"""GET /drift and the drift gauges of /metrics (stackseg.serve.drift), through TestClient:
the served model's reference against a bounded window of the frames it predicted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from stackseg.contracts import read_manifest
from stackseg.drift import build_reference, profile_frames
from stackseg.drift.outputs import output_profile, prediction_features
from stackseg.evaluate.io import read_image
from stackseg.infer import model as models
from stackseg.predict import predict_frames
from stackseg.preprocessing import to_model_input
from tests.serve.conftest import make_app, png_bytes, wait_ready, write_params

WINDOW = 4


@pytest.fixture(scope="module")
def served(model_dir, trained, tmp_path_factory):
    """A copy of the session's model with a reference beside it, and params (window 4)."""
    folder = tmp_path_factory.mktemp("drift-model")
    for name in ("model.keras", "model.json", "model.onnx"):
        shutil.copy(model_dir / name, folder / name)
    prepared = trained.path("prepared")
    # every split: the served test frames are then frames of the reference's own stacks
    # (6 training stacks span too little for 4 frames of a new one to pass for sure)
    pairs = read_manifest(prepared).pairs
    images = [read_image(prepared / pair.image, 1) for pair in pairs]
    files = models.beside(folder / "model.keras")
    card = models.read_model_card(files)
    backend = models.load_backend(files, "onnx", 1, card)
    predicted = predict_frames(
        backend, enumerate(images), to_model_input, card.input.size_multiple, 8
    )
    outputs = output_profile(
        [
            prediction_features(probs, card.classes, card.output.thresholds)
            for _, _, probs in predicted
        ],
        [pair.stack for pair in pairs],
    )
    reference = build_reference(
        profile_frames(images, 32, [pair.stack for pair in pairs]),
        32,
        0.01,
        50,
        0,
        outputs,
        show=False,
    )
    params = dict(trained.params, drift={**trained.params["drift"], "window": WINDOW})
    return folder, reference, write_params(folder, params, threads=2)


def _client(folder, params):
    from fastapi.testclient import TestClient

    client = TestClient(make_app(folder, params))
    return client


@pytest.mark.slow
def test_no_reference_is_409_with_a_clear_error(served, frames):
    folder, _, params = served
    with _client(folder, params) as client:
        wait_ready(client)
        assert (
            client.post("/predict", files={"file": ("f.png", png_bytes(frames[0]))}).status_code
            == 200
        )
        answer = client.get("/drift")
        assert answer.status_code == 409
        assert answer.json()["error"] == "no_reference"
        assert "reference.json" in answer.json()["detail"]
        assert "stackseg_drift_frames 1.0" in client.get("/metrics").text


@pytest.mark.slow
def test_drift_window_scores_and_gauges(served, frames):
    folder, reference, params = served
    reference.save(folder / "reference.json")
    try:
        with _client(folder, params) as client:
            wait_ready(client)
            empty = client.get("/drift")
            assert empty.status_code == 503 and empty.json()["error"] == "no_frames"
            for frame in frames[:WINDOW]:
                client.post("/predict", files={"file": ("f.png", png_bytes(frame))})
            plain = client.get("/drift").json()
            assert plain["frames"] == WINDOW and plain["window"] == WINDOW
            assert plain["drift"] is False, plain["drifted"]
            assert {"histogram.kl", "mean.ks", "fraction_disc.ks", "confidence.ks"} <= set(
                plain["metrics"]
            )
            # brighter frames push the plain ones out of the bounded window and are flagged
            for frame in frames[:WINDOW] * 2:
                bright = np.clip(frame.astype(int) + 90, 0, 255).astype(np.uint8)
                client.post("/predict", files={"file": ("f.png", png_bytes(bright))})
            shifted = client.get("/drift").json()
            assert shifted["frames"] == WINDOW
            assert shifted["drift"] is True and "mean.wasserstein" in shifted["drifted"]
            text = client.get("/metrics").text
            assert f"stackseg_drift_frames {WINDOW:.1f}" in text
            assert "stackseg_drift_detected 1.0" in text
            assert 'stackseg_drift_score{metric="mean.ks"}' in text
            assert 'stackseg_drift_threshold{metric="histogram.kl"}' in text
    finally:
        (folder / "reference.json").unlink()
