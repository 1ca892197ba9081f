"""GET /drift and the drift gauges of /metrics (stackseg.serve.drift), through TestClient:
the served model's reference against a bounded window of the frames it predicted."""

from __future__ import annotations

import os
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
from stackseg.serve import window as windows
from stackseg.serve.drift import window_of
from stackseg.serve.window import DriftWindow
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


def _drained(client) -> None:
    """The frames predicted so far are in the window (its thread computes them off the
    request path): a bounded wait."""
    assert window_of(client.app.state.predictor).drained(timeout=30)


@pytest.mark.slow
def test_no_reference_is_409_with_a_clear_error(served, frames):
    folder, _, params = served
    with _client(folder, params) as client:
        wait_ready(client)
        assert (
            client.post("/predict", files={"file": ("f.png", png_bytes(frames[0]))}).status_code
            == 200
        )
        _drained(client)
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
            _drained(client)
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
            _drained(client)
            shifted = client.get("/drift").json()
            assert shifted["frames"] == WINDOW
            assert shifted["drift"] is True and "mean.wasserstein" in shifted["drifted"]
            text = client.get("/metrics").text
            assert f"stackseg_drift_frames {WINDOW:.1f}" in text
            assert "stackseg_drift_detected 1.0" in text
            assert 'stackseg_drift_score{metric="mean.ks"}' in text
            assert 'stackseg_drift_threshold{metric="histogram.kl"}' in text
            assert "stackseg_drift_dropped_frames_total 0.0" in text
            thread = window_of(client.app.state.predictor).thread
            assert thread is not None and thread.is_alive()
        # the lifespan's end stopped the window's thread: nothing is left running
        assert not thread.is_alive()
    finally:
        (folder / "reference.json").unlink()


def test_a_full_queue_drops_frames_and_counts_them_without_waiting():
    """The request path never waits: a frame offered to a full queue is dropped, counted
    (the app's Prometheus counter is `on_drop`); the thread then drains what was queued."""
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    counter = Counter("dropped", "frames", registry=registry)
    window = DriftWindow(8, 16, ["a", "b"], [0.5, 0.5], counter.inc, queue_frames=3)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (32, 32, 1), dtype=np.uint8) for _ in range(5)]
    probs = rng.random((32, 32, 2), dtype=np.float32)
    # no thread yet: the first 3 wait in the queue, the other 2 find it full
    assert [window.offer(frame, probs) for frame in frames] == [True] * 3 + [False] * 2
    assert window.dropped == 2 and registry.get_sample_value("dropped_total") == 2.0
    assert len(window.rows) == 0  # nothing computed on the caller's thread
    window.start()
    assert window.drained(timeout=30)
    # the features yield the CPU to the predictions (Linux: a thread's own nice value)
    assert window.thread is not None and window.thread.native_id is not None
    assert os.getpriority(os.PRIO_PROCESS, window.thread.native_id) == windows.NICE
    _, images, outputs = window.profiles()
    assert window.version == 3 and images.frames == 3
    assert set(outputs.features) == {"fraction_a", "fraction_b", "confidence"}
    window.close()
    assert window.thread is not None and not window.thread.is_alive()


def test_a_huge_frame_queues_a_small_copy_and_its_outputs():
    """Over MAX_PIXELS: the queue holds the central crop (a copy, not a view of the huge
    frame) and the outputs, never the frame's probabilities."""

    window = DriftWindow(4, 16, ["a"], 0.5)
    side = windows.MAX_SIDE + 64
    frame = np.zeros((side, side, 1), np.uint8)
    frame[side // 2 :] = 200
    probs = np.zeros((side, side, 1), np.float32)
    probs[: side // 4] = 0.9
    assert window.offer(frame, probs)
    crop, outputs = window.pending.get_nowait()
    assert crop.shape == (windows.MAX_SIDE, windows.MAX_SIDE, 1) and crop.base is None
    assert outputs == prediction_features(probs, ["a"], 0.5)
    assert outputs["fraction_a"] == pytest.approx(0.25, abs=1e-3)


def test_workers_share_their_rows_the_window_is_the_last_frames_of_all(tmp_path):
    """`--workers N`: each worker publishes its rows to the shared folder; every worker's
    window is the last `size` frames of all of them, in the order they were predicted."""
    rng = np.random.default_rng(1)
    probs = rng.random((16, 16, 1), dtype=np.float32)
    one, two = (DriftWindow(4, 8, ["a"], 0.5, share=tmp_path, worker=name) for name in ("1", "2"))
    levels = [10, 60, 110, 160, 210, 250]  # frame i's mean grey level
    for index, level in enumerate(levels):  # alternating workers, as connections come
        window = one if index % 2 == 0 else two
        window.add(np.full((16, 16, 1), level, np.uint8), probs)
        window.publish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift-1.npy", "drift-2.npy"]
    for window in (one, two):
        _, images, outputs = window.profiles()
        assert images.features["mean"].tolist() == levels[-4:]  # the window's last 4
        assert images.histograms.shape == (4, 8) and outputs.frames == 4
        assert window.frames() == 4
    # without a folder a window is its own worker's alone
    alone = DriftWindow(4, 8, ["a"], 0.5)
    alone.add(np.full((16, 16, 1), 10, np.uint8), probs)
    assert alone.frames() == 1
