"""One progress display for every long loop: prepare frames, evaluate frames, train epochs,
synth stacks, report plots.

On a terminal it is a tqdm bar. When stderr is not a terminal (CI logs, `dvc repro` output
captured to a file, `2>log`) a bar would be one ever-growing line of carriage returns, so
plain lines are printed instead, at a modest rate::

    prepare: 1200/20090 frames (6%), 3.1 s

a line when another `step` (10%) of the total is done or `interval` (5 s) has passed since
the previous line, whichever comes first, and always one at the end (if anything was
counted). Lines are printed from `update`, never from a background thread, so a loop that
makes no progress prints nothing.

API (tqdm-like, so a tqdm call site changes by its import only)::

    from stackseg.progress import progress

    with progress(total=len(frames), desc="evaluate", unit="frame") as bar:
        for frame in frames:
            ...
            bar.update(1)          # or bar.update(n) for a batch / a whole stack

- `progress(total, desc, unit="item", *, initial=0, stream=None, interval=5.0, step=0.1,
  enabled=True)` -> context manager yielding a `Progress`. `total` may be None (unknown:
  lines show the count only); `initial` is work already done (a resumed training's epochs;
  it is not re-announced); `stream` defaults to sys.stderr at the time of the call;
  `enabled=False` shows nothing (quiet modes, tests).
- `Progress.update(n=1)`: count n more units.
- `Progress.set_postfix(**values)`: short `key=value` fields shown after the bar or appended
  to the next plain line (e.g. `val_iou=0.8123`).
- `Progress.clear()`: erase the bar before writing a log line on a terminal (no-op for plain
  lines, which never share a line with anything).
- `Progress.close()`: done (the context manager calls it); prints the final plain line.
- `Progress.n`, `Progress.total`: counted so far, and the total.

The bar (tqdm) and the plain lines use the same counts; which one is chosen depends only
on `stream.isatty()`, decided once when the display is made.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

# Plain-line rate: at most one line per `INTERVAL_S` unless another `STEP` of the total is done.
INTERVAL_S = 5.0
STEP = 0.1


def format_seconds(seconds: float) -> str:
    """3.1 s, 59.9 s, 2 min 5 s, 1 h 3 min: short enough for a progress line."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Progress:
    """Counts units of work and shows them as a bar (terminal) or plain lines (anything else).

    Made by `progress()`; see the module docstring for the API.
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "item",
        *,
        initial: int = 0,
        stream: TextIO | None = None,
        interval: float = INTERVAL_S,
        step: float = STEP,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.step = step
        self.enabled = enabled
        self._clock = clock
        self._started = clock()
        self._last_time = self._started
        self._last_n = initial
        self._postfix = ""
        self._closed = False
        self._bar = None
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm  # only on a terminal

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, n: int = 1) -> None:
        """Count `n` more units; print a plain line if one is due."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and self._due():
            self._print()

    def set_postfix(self, **values: object) -> None:
        """Short fields shown after the bar / at the end of the next plain line."""
        self._postfix = ", ".join(f"{key}={value}" for key, value in values.items())
        if self._bar is not None:
            self._bar.set_postfix(values)

    def clear(self) -> None:
        """Erase the bar so that a log line can be written on a clean terminal line."""
        if self._bar is not None:
            self._bar.clear()

    def close(self) -> None:
        """Finish: remove the bar, or print the final plain line (once)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.n != self._last_n:
            self._print()

    def line(self) -> str:
        """The plain progress line for the current count."""
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        percent = f" ({100 * self.n // self.total}%)" if self.total else ""
        elapsed = format_seconds(self._clock() - self._started)
        postfix = f", {self._postfix}" if self._postfix else ""
        return f"{self.desc}: {count} {self.unit}s{percent}, {elapsed}{postfix}"

    def _due(self) -> bool:
        if self._clock() - self._last_time >= self.interval:
            return True
        if not self.total:
            return False
        # crossed into a new step of the total since the last line
        return int(self.n / self.total / self.step) > int(self._last_n / self.total / self.step)

    def _print(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._last_time = self._clock()
        self._last_n = self.n


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextlib.contextmanager
def progress(
    total: int | None,
    desc: str,
    unit: str = "item",
    *,
    initial: int = 0,
    stream: TextIO | None = None,
    interval: float = INTERVAL_S,
    step: float = STEP,
    enabled: bool = True,
) -> Iterator[Progress]:
    """Show the progress of a loop of `total` units; see the module docstring."""
    bar = Progress(
        total,
        desc,
        unit,
        initial=initial,
        stream=stream,
        interval=interval,
        step=step,
        enabled=enabled,
    )
    try:
        yield bar
    finally:
        bar.close()
