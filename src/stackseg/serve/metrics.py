"""Prometheus metrics of one server process (GET /metrics, the text format).

- `stackseg_requests_total{endpoint, method, status}`: answered requests;
- `stackseg_request_duration_seconds{endpoint}`: latency histogram (whole request);
- `stackseg_errors_total{endpoint, error}`: 4xx/5xx answers by error code;
- `stackseg_requests_in_flight{endpoint}`: requests being answered now.

`endpoint` is the route's path (`/predict`), or `other` for unknown paths, so a scanner
cannot grow the label set. Each app has its own registry (tests build many apps); with
`--workers N` each process counts its own requests (scrape each, or use one worker per
container).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    registry: Any = field(init=False)

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stackseg_requests",
            "Requests answered",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stackseg_request_duration_seconds",
            "Request latency, receiving the body to the last byte sent",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "stackseg_errors",
            "Requests answered with an error",
            ["endpoint", "error"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "stackseg_requests_in_flight",
            "Requests being answered",
            ["endpoint"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
