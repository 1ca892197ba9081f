"""The FastAPI app: `create_app(settings)` builds one, with no state at import time.

1. `create_app` reads params (`serve:`, `infer:`, `prepare:`), the API key from the
   environment variable `serve.api_key_env` (unset or empty: no key), and installs the
   middleware (`middleware`: request id + logs + metrics, timeout, body limit), the JSON
   error handlers (`errors`) and the routes (`routes`).
2. The lifespan makes the inference thread limiter (`serve.threads`, 0 = the usable cores,
   instead of AnyIO's default 40 threads) and loads the model in the background
   (`predictor.Predictor.load`): GET /health answers at once, GET /ready says 503 until
   the model is loaded (or names why it failed), then 200. The drift window's thread
   starts with the loaded model and is stopped at shutdown (`drift.attach`, `drift.close`).
3. uvicorn's `--workers N` imports `stackseg.serve.app:app_from_env` as a factory in each
   worker process (the settings come from the environment, `settings.ENV_VAR`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from stackseg import __version__
from stackseg.config import load_config
from stackseg.errors import StacksegError
from stackseg.serve import drift, errors, routes
from stackseg.serve.metrics import Metrics
from stackseg.serve.middleware import JsonBodyLimit, RequestContext, Timeout
from stackseg.serve.predictor import Predictor
from stackseg.serve.settings import Settings

log = logging.getLogger("stackseg.serve")

DESCRIPTION = """
Segments images and TIFF stacks with the stackseg model this server loaded at start
(the same masks as `stackseg infer`). Upload the image as the multipart field `file`:

    curl -F file=@frame.png http://127.0.0.1:8000/predict -o mask.png
    curl -F file=@frame.png 'http://127.0.0.1:8000/predict?format=json'
    curl -F file=@stack.tif http://127.0.0.1:8000/predict/stack -o stack.mask.tif

Errors are JSON: `{"error": code, "detail": what is wrong, "request_id": id}`. With an
API key configured, send it as `X-API-Key` (GET /health, /ready, /metrics and these docs
stay open).
"""


def pool_size(threads: int) -> int:
    from stackseg.runtime import usable_cores

    return threads or usable_cores()


async def _load(app: Any, settings: Settings) -> None:
    state = app.state

    def load() -> Predictor:
        predictor = Predictor.load(state.cfg, settings.model_files(state.cfg), state.pool)
        # the drift window's thread, its dropped frames counted (stackseg.serve.window)
        drift.attach(predictor, state.metrics.drift_dropped.inc, state.metrics.folder)
        return predictor

    try:
        state.predictor = await anyio.to_thread.run_sync(load, abandon_on_cancel=True)
    except StacksegError as exc:
        state.load_error = "; ".join(exc.problems)
        log.error("the model did not load: %s", state.load_error)
        return
    except Exception as exc:  # the warm-up call, a backend's own error types
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("the model did not load: %s", state.load_error)
        return
    log.info("model loaded: %s", state.predictor.files.keras.name)


def create_app(settings: Settings) -> Any:
    """A new app serving `settings`' model (ConfigError for bad params)."""
    import os

    from fastapi import FastAPI

    cfg = load_config(settings.params)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.limiter = anyio.CapacityLimiter(app.state.pool)
        async with anyio.create_task_group() as group:
            group.start_soon(_load, app, settings)
            yield
            group.cancel_scope.cancel()
        if app.state.predictor is not None:  # the drift thread stopped: nothing left running
            await anyio.to_thread.run_sync(drift.close, app.state.predictor)
        app.state.metrics.close()

    app = FastAPI(
        title="stackseg",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.cfg = cfg
    app.state.serve = cfg.serve
    app.state.pool = pool_size(cfg.serve.threads)
    app.state.predictor = None
    app.state.load_error = None
    app.state.api_key = os.environ.get(cfg.serve.api_key_env) or None
    app.state.metrics = Metrics()
    errors.install(app)
    routes.install(app)
    drift.install(app, routes.check_key)  # GET /drift, drift gauges (docs/drift.md)
    endpoints = {getattr(route, "path", "") for route in app.routes}
    # add_middleware wraps: the last added is the outermost
    app.add_middleware(JsonBodyLimit, max_body_size=cfg.serve.max_body_bytes)
    app.add_middleware(Timeout, seconds=cfg.serve.timeout_s)
    app.add_middleware(RequestContext, metrics=app.state.metrics, endpoints=endpoints)
    return app


def app_from_env() -> Any:
    """uvicorn's factory in each worker process: the settings `stackseg serve` exported, and
    its JSON logs (a worker process started by `--workers N` inherits no logging setup)."""
    from stackseg.serve.middleware import configure_logging

    configure_logging()
    return create_app(Settings.from_env())
