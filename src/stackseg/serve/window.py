"""The drift window of a server: a bounded rolling window of predicted frames' features,
filled off the request path.

`DriftWindow.offer` (called for every predicted frame, in the request's worker thread)
only puts references to the frame and its probabilities (no copy) into a bounded queue;
ONE background thread (`start`) computes each frame's image features, histogram and
predicted class fractions/confidence (`stackseg.drift`) and appends them under the lock.
A full queue (the thread is behind) drops the frame and counts it (`dropped`, `on_drop`):
an answer never waits for drift. Frames over MAX_PIXELS are described by their central
MAX_SIDE x MAX_SIDE crop (copied) and their outputs are computed at once, so the queue
never holds a huge frame or its probabilities. `profiles` reads the window under the lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from stackseg.drift import DriftReport, Profile, compare
from stackseg.drift.features import FEATURES, frame_features, histogram
from stackseg.drift.outputs import prediction_features

MAX_SIDE = 1024
MAX_PIXELS = MAX_SIDE * MAX_SIDE
QUEUE_FRAMES = 32  # frames waiting for their features; more are dropped (and counted)
log = logging.getLogger("stackseg.serve")
Row = tuple[dict[str, float], np.ndarray, dict[str, float]]


def _crop(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h * w <= MAX_PIXELS:
        return frame
    top, left = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    return frame[top : top + MAX_SIDE, left : left + MAX_SIDE]


class DriftWindow:
    """The last `size` predicted frames' features; `version` counts frames ever added.

    `offer` (the request path) queues a frame; the thread of `start` computes its features
    and `add`s them. `on_drop` is called for each frame dropped from a full queue."""

    def __init__(
        self,
        size: int,
        bins: int,
        classes: list[str],
        threshold: Any,
        on_drop: Callable[[], object] | None = None,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.bins, self.classes, self.threshold = bins, classes, threshold
        self.rows: deque[Row] = deque(maxlen=size)
        self.version = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.on_drop = on_drop
        self.pending: queue.Queue[tuple[np.ndarray, Any] | None] = queue.Queue(queue_frames)
        self.thread: threading.Thread | None = None
        self._cached: tuple[int, DriftReport] | None = None

    def offer(self, frame: np.ndarray, probs: np.ndarray) -> bool:
        """Queue one predicted frame (False: the queue was full, the frame is dropped)."""
        view = _crop(frame)
        outputs: Any = probs
        if view is not frame:  # a huge frame: a small crop; its outputs now, not its probs
            view = view.copy()
            outputs = prediction_features(probs, self.classes, self.threshold)
        try:
            self.pending.put_nowait((view, outputs))
        except queue.Full:
            with self.lock:
                self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return False
        return True

    def add(self, frame: np.ndarray, probs: Any) -> None:
        """One frame's features into the window (`probs`: (H, W, K), or its outputs)."""
        if not isinstance(probs, dict):
            probs = prediction_features(probs, self.classes, self.threshold)
        row = (frame_features(frame), histogram(frame, self.bins), probs)
        with self.lock:  # the features were computed outside it: only the append waits
            self.rows.append(row)
            self.version += 1

    def start(self) -> None:
        """The background thread that drains the queue (idempotent)."""
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._drain, name="stackseg-drift", daemon=True
                )
                self.thread.start()

    def _drain(self) -> None:
        while True:
            item = self.pending.get()
            try:
                if item is None:
                    return
                self.add(*item)
            except Exception:  # one frame's features: never the end of the thread
                log.exception("drift features of a frame failed")
            finally:
                self.pending.task_done()

    def drained(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) until every queued frame is in the window."""
        end = time.monotonic() + timeout
        with self.pending.all_tasks_done:
            while self.pending.unfinished_tasks:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.pending.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread after the frames queued so far (bounded by `timeout`)."""
        thread = self.thread
        if thread is None or not thread.is_alive():
            return
        try:
            self.pending.put(None, timeout=timeout)
        except queue.Full:  # the thread is stuck: it is a daemon, the process may exit
            log.warning("the drift thread did not take its stop in %g s", timeout)
            return
        thread.join(timeout)

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
