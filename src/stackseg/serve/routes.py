"""The endpoints (see docs/serving.md for curl examples and the error table).

- GET /health: the process answers (always 200, no key needed).
- GET /ready: 200 once the model is loaded, 503 before (or with why it failed; no key).
- GET /model: the model card, where the model came from, the backend.
- GET /metrics: Prometheus text (`metrics`; no key: it holds counts, never payloads).
- POST /predict: one frame (multipart field `file`: PNG, JPEG or a one-page TIFF) ->
  `format=png` (default), `tiff`, `json` or `labels` (`encode`), `probabilities=true` for
  tiff/json. Reading, decoding, predicting and encoding run in ONE worker thread call, a
  PNG or JPEG from memory (`uploads.frame_upload`).
- POST /predict/stack: a TIFF stack (or one image) -> infer's mask stack, streamed from a
  temporary file written page by page; `format=channels` (default), `index` or `labels`.

Inference runs in worker threads under the app's CapacityLimiter; a stack is spooled to
a private temporary folder that is removed when the answer has been sent. The other
endpoints and the key check are `async`: they do not block, and FastAPI would otherwise
run each in a thread of AnyIO's default pool, a thread hop per call.
"""

from __future__ import annotations

import hmac
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, File, Query, Request, Security, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.background import BackgroundTask

from stackseg.serve import encode, uploads
from stackseg.serve.errors import ApiError, timeout_detail
from stackseg.serve.metrics import CONTENT_TYPE
from stackseg.serve.predictor import Expired, Predictor

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's API key")


class ErrorBody(BaseModel):
    error: str
    detail: str
    request_id: str | None


class Prediction(BaseModel):
    """`format=json`: see `stackseg.serve.encode`."""

    classes: list[str]
    thresholds: list[float]
    height: int
    width: int
    fractions: dict[str, float]
    masks: dict[str, dict[str, Any]]
    probabilities: dict[str, Any] | None = None
    objects: int | None = None  # models of instance labels
    labels: dict[str, Any] | None = None


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


IMAGE_ERRORS = _errors(401, 413, 415, 422, 501, 503, 504)
JSON_EXAMPLE = {
    "classes": ["nucleus", "membrane"],
    "thresholds": [0.5, 0.5],
    "height": 2,
    "width": 3,
    "fractions": {"nucleus": 0.5, "membrane": 0.0},
    "masks": {
        "nucleus": {"size": [2, 3], "counts": [2, 3, 1]},
        "membrane": {"size": [2, 3], "counts": [6]},
    },
}
UPLOAD = File(description="the image: PNG, JPEG or TIFF (judged by its content)")


async def check_key(request: Request, key: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """401 unless the server has no key or `X-API-Key` equals it (constant time)."""
    expected = request.app.state.api_key
    if expected is None:
        return
    if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong X-API-Key header")


def ready_predictor(request: Request) -> Predictor:
    state = request.app.state
    if state.predictor is None:
        why = f"the model failed to load: {state.load_error}" if state.load_error else "loading"
        raise ApiError(503, "not_ready", f"the model is not ready ({why})")
    return state.predictor


def _deadline(request: Request) -> float:
    """The Timeout middleware's deadline (time.monotonic) for this request."""
    fallback = time.monotonic() + request.app.state.serve.timeout_s
    return float(request.scope.get("state", {}).get("deadline", fallback))


async def _in_thread(request: Request, work: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(work, limiter=request.app.state.limiter)
    except Expired:
        detail = timeout_detail(request.app.state.serve.timeout_s)
        raise ApiError(504, "timeout", detail) from None


def check_labels(predictor: Predictor) -> None:
    """422 unless the model makes instance labels (its card's `output.instances`)."""
    if predictor.card.output.instances is None:
        raise ApiError(
            422,
            "invalid_request",
            "format=labels needs a model of instance labels (this model's card has no "
            "output.instances): use format=png, tiff or json",
        )


def answer(predictor: Predictor, probs: Any, format: str, probabilities: bool) -> Any:
    """The body of POST /predict (in the worker thread): bytes, or the JSON's dict."""
    threshold = predictor.card.output.threshold_array()
    if format == "labels":
        return encode.labels_png(predictor.labels(probs))
    if format == "json":
        classes = list(predictor.card.classes)
        labels = predictor.labels(probs) if predictor.makes_labels else None
        return encode.as_json(probs, threshold, classes, probabilities, labels)
    if format == "tiff":
        return encode.tiff(probs, threshold, probabilities)
    return encode.png(probs, threshold)


def install(app: Any) -> None:
    keyed = [Depends(check_key)]

    @app.get("/health", tags=["status"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["status"], responses=_errors(503))
    async def ready(request: Request) -> dict[str, str]:
        ready_predictor(request)
        return {"status": "ready"}

    @app.get("/model", tags=["status"], dependencies=keyed, responses=_errors(401, 503))
    async def model(request: Request) -> dict[str, Any]:
        return ready_predictor(request).describe()

    @app.get("/metrics", tags=["status"], response_class=Response)
    async def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    @app.post(
        "/predict",
        tags=["predict"],
        dependencies=keyed,
        response_class=Response,
        responses={
            200: {
                "description": "the mask (png, tiff) or the JSON prediction",
                "content": {
                    "image/png": {},
                    "image/tiff": {},
                    "application/json": {
                        "schema": Prediction.model_json_schema(),
                        "example": JSON_EXAMPLE,
                    },
                },
            },
            **IMAGE_ERRORS,
        },
    )
    async def predict(
        request: Request,
        file: Annotated[UploadFile, UPLOAD],
        format: Annotated[Literal["png", "tiff", "json", "labels"], Query()] = "png",
        probabilities: Annotated[bool, Query(description="tiff or json only")] = False,
    ) -> Response:
        """Segment one frame; the masks are those of `stackseg infer` for the same file
        (`labels`: a 16-bit PNG of the instance labels, models of instance labels only)."""
        predictor = ready_predictor(request)
        if probabilities and format in ("png", "labels"):
            raise ApiError(
                422, "invalid_request", "probabilities=true needs format=tiff or format=json"
            )
        if format == "labels":
            check_labels(predictor)
        serve = request.app.state.serve
        deadline = _deadline(request)

        def work() -> Any:  # one thread hop: read, decode, predict, encode
            upload = uploads.frame_upload(file.file, serve.max_pixels)
            try:
                return predictor.answer(
                    upload, deadline, lambda probs: answer(predictor, probs, format, probabilities)
                )
            finally:
                upload.discard()

        content = await _in_thread(request, work)
        if format == "json":
            return JSONResponse(content)
        return Response(content, media_type=encode.MEDIA_TYPES[format])

    @app.post(
        "/predict/stack",
        tags=["predict"],
        dependencies=keyed,
        response_class=FileResponse,
        responses={
            200: {"description": "infer's mask stack", "content": {"image/tiff": {}}},
            **IMAGE_ERRORS,
        },
    )
    async def predict_stack(
        request: Request,
        file: Annotated[UploadFile, UPLOAD],
        format: Annotated[Literal["channels", "index", "labels"], Query()] = "channels",
    ) -> Response:
        """Segment every frame of a stack, streamed: a few frames in memory at a time
        (`labels`: infer's instance-label stack, models of instance labels only)."""
        predictor = ready_predictor(request)
        if format == "labels":
            check_labels(predictor)
        serve = request.app.state.serve
        deadline = _deadline(request)
        folders: list[Path] = []

        def work() -> Path:
            folders.append(uploads.temp_folder())  # in the worker thread, as below
            try:
                path = uploads.spool(file.file, folders[0])
                uploads.check_pixels(path, serve.max_pixels)
                return predictor.stack(path, format, deadline)
            except BaseException:
                shutil.rmtree(folders[0], ignore_errors=True)
                raise

        try:
            mask = await _in_thread(request, work)
        except BaseException:  # cancelled (timeout) after the thread wrote the mask
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        folder = folders[0]
        return FileResponse(
            mask,
            media_type="image/tiff",
            filename="mask.tif",
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )
