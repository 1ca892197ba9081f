"""Prometheus metrics of a server (GET /metrics, the text format).

- `stackseg_requests_total{endpoint, method, status}`: answered requests;
- `stackseg_request_duration_seconds{endpoint}`: latency histogram (whole request);
- `stackseg_errors_total{endpoint, error}`: 4xx/5xx answers by error code;
- `stackseg_requests_in_flight{endpoint}`: requests being answered now;
- `stackseg_drift_dropped_frames_total`: predicted frames left out of the drift window
  because its queue was full (`window.DriftWindow`: drift never delays an answer).

`endpoint` is the route's path (`/predict`), or `other` for unknown paths, so a scanner
cannot grow the label set. One process (`--workers 1`): each app has its own registry
(tests build many apps). Several (`--workers N`): prometheus_client's multiprocess mode.
`stackseg serve` makes a fresh private folder (`shared_folder`) and names it in
`PROMETHEUS_MULTIPROC_DIR` before the workers start; each worker writes its values to
memory-mapped files there, and GET /metrics, whichever worker answers, sums every
worker's files (`MultiProcessCollector`; the in-flight gauge over the live workers only),
followed by the collectors registered on the app's own registry (the drift gauges).
The folder is removed when the server stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_VAR = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_folder(workers: int) -> Iterator[str | None]:
    """For `workers` > 1, a new private folder named in PROMETHEUS_MULTIPROC_DIR (the
    workers inherit it), removed at exit; for one worker, no multiprocess mode (a value
    set in the environment is dropped: stale files would be counted)."""
    os.environ.pop(MULTIPROCESS_VAR, None)
    if workers <= 1:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="stackseg-metrics-")
    os.environ[MULTIPROCESS_VAR] = folder
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROCESS_VAR, None)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Metrics:
    registry: Any = field(init=False)

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.folder = os.environ.get(MULTIPROCESS_VAR) or None
        # multiprocess: the values live in the folder's files; `render` collects them all
        registry = None if self.folder else self.registry
        self.requests = Counter(
            "stackseg_requests",
            "Requests answered",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "stackseg_request_duration_seconds",
            "Request latency, receiving the body to the last byte sent",
            ["endpoint"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "stackseg_errors",
            "Requests answered with an error",
            ["endpoint", "error"],
            registry=registry,
        )
        self.drift_dropped = Counter(
            "stackseg_drift_dropped_frames",
            "Predicted frames left out of the drift window: its queue was full",
            registry=registry,
        )
        self.in_flight = Gauge(
            "stackseg_requests_in_flight",
            "Requests being answered",
            ["endpoint"],
            registry=registry,
            multiprocess_mode="livesum",
        )

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        if self.folder is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.folder)
        # + the collectors registered on this app's registry (the drift gauges, computed
        # from the window the workers share)
        return generate_latest(registry) + generate_latest(self.registry)

    def close(self) -> None:
        """At the worker's exit: its in-flight gauge no longer counts (multiprocess)."""
        if self.folder is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.folder)
