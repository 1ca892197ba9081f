"""What every dashboard page shares: the settings, the cached model, and errors shown as
one clear line on the page (never a traceback), as the command line prints them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from stackseg.dashboard import predictions
from stackseg.dashboard.settings import Settings
from stackseg.errors import StacksegError


class Stop(Exception):
    """Raised after an error was shown: the rest of the page is skipped."""


@contextlib.contextmanager
def errors_shown() -> Iterator[None]:
    """A StacksegError or OSError inside: each of its lines as an error box, then the
    page's remaining steps are skipped (the `Stop` is caught by `run_page`)."""
    try:
        yield
    except StacksegError as exc:
        for line in exc.problems:
            st.error(line)
        raise Stop() from None
    except OSError as exc:
        from stackseg.cli import os_error_line

        st.error(os_error_line(exc))
        raise Stop() from None


def run_page(render) -> None:
    """Run one page's `render(settings)`; an error it showed ends it quietly."""
    with contextlib.suppress(Stop):
        with errors_shown():
            settings = Settings.from_env()
        render(settings)


@st.cache_resource(show_spinner="Loading the model...", max_entries=2)
def _model(settings_json: str, stamp: tuple[float, ...]) -> predictions.Model:
    # one backend per model, shared by every session (an ONNX Runtime session and infer's
    # Runner are safe to share between threads); `stamp` (the files' modification times)
    # makes a retrained or re-exported model load again instead of the cached one
    import json

    return predictions.load_model(Settings(**json.loads(settings_json)))


def model(settings: Settings) -> predictions.Model:
    with errors_shown():
        files = settings.model_files(settings.config())
        paths = (files.keras, files.card, files.onnx)
        stamp = tuple(path.stat().st_mtime if path.is_file() else 0.0 for path in paths)
        return _model(settings.to_env(), stamp)
