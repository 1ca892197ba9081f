"""The connection to MLflow, and the rule that tracking never fails a stage by accident.

1. `tracking_uri`: params `tracking.mlflow.uri`; a relative `sqlite:///x.db` is made absolute
   against the project root (MLflow would take it from whatever the current folder is).
2. `bound_http`: MLflow's HTTP client retries for minutes by default (7 retries, 2 s backoff
   factor, 120 s timeout); a stage gets one try of at most 30 s per request unless the
   user's environment says otherwise (a refused connection fails at once; 30 s leaves a
   server on a loaded machine time to answer).
3. `connect`: the client, the experiment (created on first use). Any failure, then or in a
   later call (`Session.call`), is one warning line and tracking stops for the rest of the
   stage; with `required: true` it is a `TrackingUnavailable` error (one line, exit 1).

`Session.seconds` adds up the time spent in MLflow (its import included), which the stages
log: the cost of `enabled: true`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from stackseg.config import MlflowConfig
from stackseg.errors import StacksegError

log = logging.getLogger(__name__)

T = TypeVar("T")

# one try per request, 30 s at most (MLflow's defaults: 7 retries with backoff, 120 s timeout)
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # artifact downloads print tqdm bars on stderr otherwise
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


ARTIFACTS_DIR = "mlartifacts"


class TrackingUnavailable(StacksegError):
    """MLflow could not be reached (or refused a call) and `tracking.mlflow.required` is true."""


def tracking_uri(uri: str, root: Path) -> str:
    """`uri` with a relative sqlite path made absolute against `root` (the project)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri[len(prefix) :])
        if not path.is_absolute():
            return prefix + str((root / path).resolve())
    return uri


def artifact_location(uri: str, root: Path) -> str | None:
    """Where a new experiment keeps its artifacts: for a SQLite store, `mlartifacts/` in the
    project (git-ignored; MLflow's default would be `mlruns/` in whatever the current folder
    is); a server decides for itself (None)."""
    return (root / ARTIFACTS_DIR).resolve().as_uri() if uri.startswith("sqlite:") else None


def shown_uri(uri: str) -> str:
    """The URI without any user:password@ part, for messages and logs."""
    scheme, sep, rest = uri.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return uri


def bound_http() -> None:
    """MLflow's HTTP retries and timeouts, bounded (values the user set are kept); must run
    before the first request, and MLflow reads them per request."""
    for name, value in HTTP_BOUNDS.items():
        os.environ.setdefault(name, value)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class Session:
    """A connected client and experiment; `call` runs one MLflow call under the rule."""

    def __init__(self, settings: MlflowConfig, uri: str, what: str):
        self.settings, self.uri, self.what = settings, uri, what
        self.client: Any = None
        self.experiment_id: str | None = None
        self.seconds = 0.0
        self.failed = False

    @property
    def active(self) -> bool:
        return self.client is not None and not self.failed

    def call(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`action(*args, **kwargs)`, timed; on any error: the warning (or the error when
        required) and no further calls; None then."""
        if not self.active:
            return None
        start = time.perf_counter()
        try:
            return action(*args, **kwargs)
        except Exception as exc:  # MLflow, requests, SQLAlchemy: many unrelated types
            self.fail(exc)
            return None
        finally:
            self.seconds += time.perf_counter() - start

    def fail(self, exc: BaseException) -> None:
        self.failed = True
        line = f"MLflow at {shown_uri(self.uri)}: {_one_line(exc)}"
        if self.settings.required:
            raise TrackingUnavailable(
                f"{line} (tracking.mlflow.required is true: start the server or set it false)"
            ) from None
        log.warning(
            "%s; %s not tracked (set tracking.mlflow.required: true to fail)", line, self.what
        )


def quiet_mlflow() -> None:
    """MLflow's and Alembic's INFO lines (database migrations, run links) stay out of the
    stage's log; warnings still show."""
    # urllib3 warns of each retry: with the user's own retries, one warning line still
    for name in ("mlflow", "alembic", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(logging.WARNING)


def connect(settings: MlflowConfig, root: Path, what: str) -> Session | None:
    """A session on params `tracking.mlflow` (None when disabled); `what` names what is not
    tracked in the warning ("train run"). Creates the experiment if missing."""
    if not settings.enabled:
        return None
    uri = tracking_uri(settings.uri, root)
    session = Session(settings, uri, what)
    start = time.perf_counter()
    bound_http()
    try:
        from mlflow.tracking import MlflowClient

        quiet_mlflow()
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        found = client.get_experiment_by_name(settings.experiment)
        session.experiment_id = (
            found.experiment_id
            if found
            else client.create_experiment(settings.experiment, artifact_location(uri, root))
        )
        session.client = client
    except Exception as exc:  # noqa: BLE001 (see Session.call)
        session.fail(exc)
    finally:
        session.seconds += time.perf_counter() - start
    return session if session.active else None
