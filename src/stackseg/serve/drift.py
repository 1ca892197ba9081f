"""Drift in the server: the features of recently predicted frames against the served
model's reference (docs/drift.md).

- `observe(predictor, frame, probs)`: the predictor's hook, called for every frame it
  predicted (/predict and each frame of /predict/stack). It only hands the frame and its
  probabilities (references, no copy) to a bounded queue and returns: ONE background
  thread per window computes the frame's image features, histogram, predicted class
  fractions and confidence and appends them to a bounded rolling window (params
  drift.window frames). A full queue (the thread is behind) drops the frame, counted
  (`DriftWindow.dropped`, `stackseg_drift_dropped_frames_total`): the answer never waits
  for drift (`window.DriftWindow`).
- `attach(predictor, on_drop)`: the app's lifespan makes the window and starts its thread
  when the model is loaded; `close(predictor)` stops it (bounded) at shutdown.
- GET /drift (install): the window against the reference (`stackseg.drift.compare`):
  scores, thresholds, verdict. 409 `no_reference` when the model has no reference,
  503 `no_frames` while the window is empty.
- /metrics gauges: `stackseg_drift_frames`, `stackseg_drift_detected` (0/1),
  `stackseg_drift_score{metric}`, `stackseg_drift_threshold{metric}`. With --workers N
  the workers share their rows (`window`, in the metrics' multiprocess folder): /drift
  and the gauges describe the server's last frames, whichever worker answers.

The reference is the file of params `paths.drift_reference` for the workspace's model,
else `reference.json` beside the served .keras file (registry/fetch.py puts it there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, Request

from stackseg.drift import DriftReport, load_reference
from stackseg.errors import InputDataError
from stackseg.serve.errors import ApiError
from stackseg.serve.window import DriftWindow

ATTRIBUTE = "drift_window"  # the predictor's window (one model, one window)
_CREATE = threading.Lock()


def window_of(
    predictor: Any, on_drop: Callable[[], object] | None = None, share: Path | None = None
) -> DriftWindow:
    """The predictor's window, made (and its thread started) on first use; its bins: the
    reference's, else params; `share`: the folder where the workers share their rows."""
    window = getattr(predictor, ATTRIBUTE, None)
    if window is None:
        with _CREATE:
            window = getattr(predictor, ATTRIBUTE, None)
            if window is None:
                reference = reference_of(predictor)
                bins = reference.bins if reference is not None else predictor.cfg.drift.bins
                card = predictor.card
                window = DriftWindow(
                    predictor.cfg.drift.window,
                    bins,
                    list(card.classes),
                    card.output.thresholds,
                    on_drop,
                    share=share,
                )
                window.start()
                setattr(predictor, ATTRIBUTE, window)
    return window


def attach(predictor: Any, on_drop: Callable[[], object], share: str | None) -> DriftWindow:
    """The app's window for a just-loaded predictor, drops counted by `on_drop`; with
    `--workers N`, its rows shared in `share` (the metrics' multiprocess folder)."""
    return window_of(predictor, on_drop, Path(share) if share else None)


def close(predictor: Any) -> None:
    """At shutdown: the window's thread stopped (bounded)."""
    window = getattr(predictor, ATTRIBUTE, None)
    if window is not None:
        window.close()


def observe(predictor: Any, frame: np.ndarray, probs: np.ndarray) -> None:
    """The predictor's hook: one predicted frame queued for its window (never blocks)."""
    window_of(predictor).offer(frame, probs)


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
        frames.add_metric([], window_of(predictor).frames() if predictor is not None else 0)
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
