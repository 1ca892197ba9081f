"""The drift window of a server: a bounded rolling window of predicted frames' features,
filled off the request path, and shared between the worker processes of one server.

`DriftWindow.offer` (called for every predicted frame, in the request's worker thread)
only puts references to the frame and its probabilities (no copy) into a bounded queue;
ONE background thread (`start`) computes each frame's image features, histogram and
predicted class fractions/confidence (`stackseg.drift`) and appends them, as one row of
numbers stamped with the time, under the lock. A full queue (the thread is behind) drops
the frame and counts it (`dropped`, `on_drop`): an answer never waits for drift. Frames
over MAX_PIXELS are described by their central MAX_SIDE x MAX_SIDE crop (copied) and
their outputs are computed at once, so the queue never holds a huge frame or its
probabilities.

With `share` (a folder: `--workers N` gives Prometheus' multiprocess folder), the thread
also publishes its rows to `share/drift-<pid>.npy` (atomically, at most every PUBLISH_S
seconds and once idle), and `profiles` merges every worker's rows by their time stamps:
the window is the last `size` frames the server predicted, whichever worker answered.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.drift import DriftReport, Profile, compare
from stackseg.drift.features import FEATURES, frame_features, histogram
from stackseg.drift.outputs import CONFIDENCE, fraction_name, prediction_features

MAX_SIDE = 1024
MAX_PIXELS = MAX_SIDE * MAX_SIDE
QUEUE_FRAMES = 32  # frames waiting for their features; more are dropped (and counted)
PUBLISH_S = 0.1  # a worker's rows reach the others within about this
NICE = 19  # the drift thread's nice value: it runs when the predictions leave a core idle
log = logging.getLogger("stackseg.serve")


def _crop(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h * w <= MAX_PIXELS:
        return frame
    top, left = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    return frame[top : top + MAX_SIDE, left : left + MAX_SIDE]


class DriftWindow:
    """The last `size` predicted frames' features; `version` counts frames ever added here.

    A row: [time stamp, FEATURES..., histogram (bins)..., fraction per class, confidence].
    `offer` (the request path) queues a frame; the thread of `start` computes its row.
    `on_drop` is called for each frame dropped from a full queue."""

    def __init__(
        self,
        size: int,
        bins: int,
        classes: list[str],
        threshold: Any,
        on_drop: Callable[[], object] | None = None,
        queue_frames: int = QUEUE_FRAMES,
        share: Path | None = None,
        worker: str | None = None,
    ) -> None:
        self.size, self.bins, self.classes, self.threshold = size, bins, classes, threshold
        self.outputs = [*(fraction_name(name) for name in classes), CONFIDENCE]
        self.rows: deque[np.ndarray] = deque(maxlen=size)
        self.version = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.on_drop = on_drop
        self.pending: queue.Queue[tuple[np.ndarray, Any] | None] = queue.Queue(queue_frames)
        self.thread: threading.Thread | None = None
        self.share = share
        self.file = f"drift-{worker or os.getpid()}.npy"  # this worker's rows in `share`
        self.published = (0, 0.0)  # (version, time) of the last publish
        self._cached: tuple[Any, DriftReport] | None = None

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
        features = frame_features(frame)
        row = np.concatenate(
            [
                [time.time()],
                [features[name] for name in FEATURES],
                histogram(frame, self.bins),
                [probs[name] for name in self.outputs],
            ]
        )
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
        # the predictions first: on Linux a thread's nice value is its own, so the features
        # take the CPU the inference threads leave (raising it needs no privilege)
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        while True:
            unpublished = self.share is not None and self.published[0] != self.version
            try:
                item = self.pending.get(timeout=PUBLISH_S if unpublished else None)
            except queue.Empty:  # idle: the last rows go out
                self._safely(self.publish)
                continue
            try:
                if item is None:
                    self.publish()
                    return
                self.add(*item)
                if time.monotonic() - self.published[1] >= PUBLISH_S:
                    self.publish()
            except Exception:  # one frame's features: never the end of the thread
                log.exception("drift features of a frame failed")
            finally:
                self.pending.task_done()

    @staticmethod
    def _safely(work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:
            log.exception("drift rows not shared")

    def publish(self) -> None:
        """This worker's rows to `share/drift-<pid>.npy`, for the other workers."""
        if self.share is None:
            return
        from stackseg.atomic import write_bytes

        with self.lock:
            rows, version = list(self.rows), self.version
        buffer = io.BytesIO()
        np.save(buffer, self._matrix(rows), allow_pickle=False)
        try:
            write_bytes(self.share / self.file, buffer.getvalue())
        except OSError as exc:  # the folder went away (the server is stopping)
            log.warning("drift rows not shared: %s", exc)
        self.published = (version, time.monotonic())

    def _matrix(self, rows: list[np.ndarray]) -> np.ndarray:
        width = 1 + len(FEATURES) + self.bins + len(self.outputs)
        return np.array(rows, dtype=np.float64).reshape(len(rows), width)

    def _others(self) -> tuple[list[np.ndarray], tuple[Any, ...]]:
        """The other workers' published rows, and their files' stamps (the cache key)."""
        if self.share is None:
            return [], ()
        found, stamps = [], []
        for path in sorted(self.share.glob("drift-*.npy")):
            if path.name == self.file:
                continue
            try:
                stamp, rows = path.stat().st_mtime_ns, np.load(path, allow_pickle=False)
            except (OSError, ValueError):  # replaced or removed while read: skipped
                continue
            if rows.ndim == 2 and rows.shape[1] == self._matrix([]).shape[1]:
                stamps.append((path.name, stamp))
                found.append(rows)
        return found, tuple(stamps)

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

    def profiles(self) -> tuple[Any, Profile, Profile]:
        """(version, image profile, output profile) of the frames in the window now: the
        last `size` rows of every worker by time stamp (this worker's alone without
        `share`); `version` changes whenever they may have."""
        with self.lock:
            rows, version = list(self.rows), self.version
        others, stamps = self._others()
        matrix = np.concatenate([self._matrix(rows), *others])
        if others:
            matrix = matrix[np.argsort(matrix[:, 0], kind="stable")][-self.size :]
        images = Profile(
            {name: matrix[:, 1 + k] for k, name in enumerate(FEATURES)},
            matrix[:, 1 + len(FEATURES) : 1 + len(FEATURES) + self.bins],
        )
        first = 1 + len(FEATURES) + self.bins
        outputs = Profile({name: matrix[:, first + k] for k, name in enumerate(self.outputs)})
        return (version, stamps), images, outputs

    def frames(self) -> int:
        """How many frames the window holds now (every worker's, with `share`)."""
        return self.profiles()[1].frames

    def report(self, reference: Any) -> DriftReport | None:
        """The window against the reference (None while empty); computed once per version."""
        version, images, outputs = self.profiles()
        cached = self._cached
        if cached is not None and cached[0] == version:
            return cached[1]
        if not images.frames:
            return None
        report = compare(reference, images, outputs)
        self._cached = (version, report)
        return report
