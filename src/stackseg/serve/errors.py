"""The API's errors: one JSON shape for every failure, `{"error", "detail", "request_id"}`.

`error` is a stable machine-readable code, `detail` one sentence saying what is wrong and
what to do, `request_id` the id the logs carry (the X-Request-ID header). Nothing of the
payload is ever echoed or logged; an input's problem names "the upload", never a server path.
"""

from __future__ import annotations

import logging
from typing import Any

from stackseg.errors import StacksegError

log = logging.getLogger("stackseg.serve")

# HTTP status -> code of the errors that FastAPI or Starlette raise themselves
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    503: "not_ready",
    504: "timeout",
}


class ApiError(Exception):
    """A request the API refuses: its status, code and detail become the JSON error."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def input_error(exc: StacksegError, path: Any, name: str = "the upload") -> ApiError:
    """An InputDataError of infer's readers (`<temp path>: ...`) as a 422 naming the upload."""
    detail = "; ".join(exc.problems).replace(str(path), name)
    return ApiError(422, "invalid_input", detail)


def body(error: str, detail: str, request_id: str | None) -> dict[str, Any]:
    return {"error": error, "detail": detail, "request_id": request_id}


def request_id_of(scope: dict[str, Any]) -> str | None:
    return scope.get("state", {}).get("request_id")


def timeout_detail(seconds: float) -> str:
    """The 504's detail: from the timeout middleware, or the worker thread's own deadline."""
    return f"the request took over {seconds:g} s (params serve.timeout_s)"


def install(app: Any) -> None:
    """Exception handlers: ApiError, HTTP errors, validation errors and the unexpected."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def respond(request: Any, status: int, error: str, detail: str, headers=None):
        content = body(error, detail, request_id_of(request.scope))
        return JSONResponse(content, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return respond(request, exc.status, exc.error, exc.detail)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        code = STATUS_CODES.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 413:
            limit = request.app.state.serve.max_body_bytes
            detail = f"the request body is over {limit} bytes (params serve.max_body_bytes)"
        return respond(request, exc.status_code, code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        # the locations and messages only: pydantic's `input` would echo the payload
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return respond(request, 422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        log.error(
            "unexpected error",
            extra={"request_id": request_id_of(request.scope), "exception": type(exc).__name__},
            exc_info=exc,
        )
        return respond(request, 500, "internal", "internal server error (see the server log)")
