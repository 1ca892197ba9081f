"""Drift in the server: the features of recently predicted frames against the served
model's reference (docs/drift.md).

- `observe(predictor, frame, probs)`: the predictor's hook, called for every frame it
  predicted (/predict and each frame of /predict/stack): the frame's image features and
  histogram and its predicted class fractions and confidence go into a bounded rolling
  window (params drift.window frames; thread-safe: requests run in worker threads).
  Frames over MAX_PIXELS are described by their central MAX_SIDE x MAX_SIDE crop, so a
  huge frame costs milliseconds, not seconds.
- GET /drift (install): the window against the reference (`stackseg.drift.compare`):
  scores, thresholds, verdict. 409 `no_reference` when the model has no reference,
  503 `no_frames` while the window is empty.
- /metrics gauges: `stackseg_drift_frames`, `stackseg_drift_detected` (0/1),
  `stackseg_drift_score{metric}`, `stackseg_drift_threshold{metric}`; with --workers N,
  each process reports its own window.

The reference is the file of params `paths.drift_reference` for the workspace's model,
else `reference.json` beside the served .keras file (registry/fetch.py puts it there).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, Request

from stackseg.drift import DriftReport, Profile, compare, load_reference
from stackseg.drift.features import FEATURES, frame_features, histogram
from stackseg.drift.outputs import prediction_features
from stackseg.errors import InputDataError
from stackseg.serve.errors import ApiError

MAX_SIDE = 1024
MAX_PIXELS = MAX_SIDE * MAX_SIDE
ATTRIBUTE = "drift_window"  # the predictor's window (one model, one window)
_CREATE = threading.Lock()


def _crop(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h * w <= MAX_PIXELS:
        return frame
    top, left = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    return frame[top : top + MAX_SIDE, left : left + MAX_SIDE]


class DriftWindow:
    """The last `size` predicted frames' features; `version` counts frames ever added."""

    def __init__(self, size: int, bins: int, classes: list[str], threshold: Any) -> None:
        self.bins, self.classes, self.threshold = bins, classes, threshold
        self.rows: deque[tuple[dict[str, float], np.ndarray, dict[str, float]]] = deque(maxlen=size)
        self.version = 0
        self.lock = threading.Lock()
        self._cached: tuple[int, DriftReport] | None = None

    def add(self, frame: np.ndarray, probs: np.ndarray) -> None:
        view = _crop(frame)
        row = (
            frame_features(view),
            histogram(view, self.bins),
            prediction_features(probs, self.classes, self.threshold),
        )
        with self.lock:  # the features were computed outside it: only the append waits
            self.rows.append(row)
            self.version += 1

    def profiles(self) -> tuple[int, Profile, Profile]:
        """(version, image profile, output profile) of the frames in the window now."""
        with self.lock:
            rows, version = list(self.rows), self.version
        images = Profile(
            {name: np.array([r[0][name] for r in rows]) for name in FEATURES},
            np.array([r[1] for r in rows]).reshape(len(rows), self.bins),
        )
        names = list(rows[0][2]) if rows else []
        outputs = Profile({name: np.array([r[2][name] for r in rows]) for name in names})
        return version, images, outputs

    def report(self, reference: Any) -> DriftReport | None:
        """The window against the reference (None while empty); computed once per version."""
        cached = self._cached
        if cached is not None and cached[0] == self.version:
            return cached[1]
        version, images, outputs = self.profiles()
        if not images.frames:
            return None
        report = compare(reference, images, outputs)
        self._cached = (version, report)
        return report


def window_of(predictor: Any) -> DriftWindow:
    """The predictor's window, made on first use (its bins: the reference's, else params)."""
    window = getattr(predictor, ATTRIBUTE, None)
    if window is None:
        with _CREATE:
            window = getattr(predictor, ATTRIBUTE, None)
            if window is None:
                reference = reference_of(predictor)
                bins = reference.bins if reference is not None else predictor.cfg.drift.bins
                card = predictor.card
                window = DriftWindow(
                    predictor.cfg.drift.window, bins, list(card.classes), card.output.thresholds
                )
                setattr(predictor, ATTRIBUTE, window)
    return window


def observe(predictor: Any, frame: np.ndarray, probs: np.ndarray) -> None:
    """The predictor's hook: one predicted frame into its window."""
    window_of(predictor).add(frame, probs)


def reference_path(predictor: Any) -> Path:
    cfg, keras = predictor.cfg, Path(predictor.files.keras)
    if keras == Path(cfg.paths.model):
        return Path(cfg.paths.drift_reference)
    return keras.with_name(Path(cfg.paths.drift_reference).name)


def reference_of(predictor: Any) -> Any:
    """The served model's reference, read once (None when it has none)."""
    if not hasattr(predictor, "drift_reference"):
        try:
            reference = load_reference(reference_path(predictor))
        except (InputDataError, OSError):  # no reference: GET /drift says so (409)
            reference = None
        predictor.drift_reference = reference
    return predictor.drift_reference


def current(app: Any) -> tuple[Any, DriftReport]:
    """(reference, report) now; ApiError 503/409 when there is nothing to compare."""
    predictor = app.state.predictor
    if predictor is None:
        raise ApiError(503, "not_ready", "the model is not ready: no drift to report yet")
    reference = reference_of(predictor)
    if reference is None:
        raise ApiError(
            409,
            "no_reference",
            f"the served model has no drift reference ({reference_path(predictor).name}): "
            "build it with `dvc repro reference` and serve that model",
        )
    report = window_of(predictor).report(reference)
    if report is None:
        raise ApiError(503, "no_frames", "no frames predicted yet: POST some to /predict first")
    return reference, report


class _Collector:
    """The /metrics gauges, computed from the window at scrape time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        predictor = self.app.state.predictor
        frames = GaugeMetricFamily("stackseg_drift_frames", "Frames in the drift window")
        frames.add_metric([], len(window_of(predictor).rows) if predictor is not None else 0)
        yield frames
        try:
            _, report = current(self.app)
        except ApiError:
            return
        yield GaugeMetricFamily(
            "stackseg_drift_detected",
            "1 if any drift metric is above its threshold",
            report.drifted,
        )
        score = GaugeMetricFamily("stackseg_drift_score", "Drift metric", labels=["metric"])
        limit = GaugeMetricFamily(
            "stackseg_drift_threshold", "Drift metric's threshold", labels=["metric"]
        )
        for metric in report.metrics:
            score.add_metric([metric.name], metric.score)
            limit.add_metric([metric.name], metric.threshold)
        yield score
        yield limit


def install(app: Any, check_key: Callable[..., Any]) -> None:
    """GET /drift (behind the API key like /model) and the /metrics gauges."""

    @app.get("/drift", tags=["status"], dependencies=[Depends(check_key)])
    async def drift(request: Request) -> dict[str, Any]:
        """The recent predicted frames against the served model's reference: per-metric
        score, threshold and verdict (metrics/drift.json's layout), and the window size."""
        import anyio

        _, report = await anyio.to_thread.run_sync(current, request.app)
        return {"window": request.app.state.cfg.drift.window, **report.to_json()}

    app.state.metrics.registry.register(_Collector(app))
