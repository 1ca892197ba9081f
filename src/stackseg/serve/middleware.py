"""Pure ASGI middleware around every request (outermost first):

1. `RequestContext`: the request id (a client's `X-Request-ID` of 1-128 safe characters is
   kept, otherwise a new one), echoed in the answer's `X-Request-ID`; the metrics; one
   structured JSON log line per request (id, method, path, status, duration; never the
   body, the query or the headers, so neither payloads nor the API key reach the log).
2. `Timeout`: a request not answered within `serve.timeout_s` gets 504 (JSON error). Once
   the answer has started (a stack's mask streaming out) it is no longer cut short.
3. `JsonBodyLimit`: Starlette's `RequestBodyLimitMiddleware`, whose 413 answer (plain
   text) is rewritten as the API's JSON error: a body over `serve.max_body_bytes` gets 413
   as soon as its Content-Length or the bytes received so far (chunked uploads) pass the
   limit, before the endpoint runs.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from typing import Any

import anyio

from stackseg.serve.errors import STATUS_CODES, body, request_id_of, timeout_detail
from stackseg.serve.metrics import Metrics

log = logging.getLogger("stackseg.serve.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class RequestContext:
    def __init__(self, app: Any, metrics: Metrics, endpoints: set[str]):
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = _header(scope, b"x-request-id")
        request_id = given if given and REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        in_flight = self.metrics.in_flight.labels(endpoint)
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            in_flight.dec()
            seconds = time.perf_counter() - start
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(seconds)
            if status >= 400:
                error = STATUS_CODES.get(status, "internal" if status >= 500 else "http_error")
                self.metrics.errors.labels(endpoint, error).inc()
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": endpoint,
                    "status": status,
                    "duration_ms": round(1000 * seconds, 1),
                },
            )


class Timeout:
    def __init__(self, app: Any, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False
        # the routes stop their worker threads at the same deadline (between two frames)
        scope.setdefault("state", {})["deadline"] = time.monotonic() + self.seconds
        with anyio.CancelScope(deadline=anyio.current_time() + self.seconds) as cancel:

            async def send_started(message: dict[str, Any]) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    cancel.deadline = math.inf  # a started answer is not cut short
                # shielded: an answer the app began (its own 504 included) is sent whole
                with anyio.CancelScope(shield=True):
                    await send(message)

            await self.app(scope, receive, send_started)
        if cancel.cancelled_caught and not started:
            detail = timeout_detail(self.seconds)
            content = json.dumps(body("timeout", detail, request_id_of(scope)))
            await send(
                {
                    "type": "http.response.start",
                    "status": 504,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": content.encode()})


class JsonBodyLimit:
    def __init__(self, app: Any, max_body_size: int):
        from starlette.middleware.body_limit import RequestBodyLimitMiddleware

        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)
        self.limit = max_body_size

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        replacing = False

        async def send_json(message: Any) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] == 413:
                types = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
                replacing = bool(types) and types[0].startswith(b"text/plain")
            if not replacing:
                return await send(message)
            if message["type"] == "http.response.start":
                return  # sent with the body, once its length is known
            detail = f"the request body is over {self.limit} bytes (params serve.max_body_bytes)"
            content = json.dumps(body("too_large", detail, request_id_of(scope))).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(content)),
            ]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            replacing = False

        await self.app(scope, receive, send_json)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    FIELDS = ("request_id", "method", "path", "status", "duration_ms", "exception")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info and record.levelno >= logging.ERROR:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for stackseg's and uvicorn's loggers (the server process)."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    for name in ("stackseg", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # RequestContext logs each request
