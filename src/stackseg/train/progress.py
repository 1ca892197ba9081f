"""Per-epoch progress: one log line per epoch, and stackseg.progress over epochs (a bar on a
terminal; off a terminal the log lines already say it all, so no plain progress lines)."""

from __future__ import annotations

import logging
import sys
import time

import keras

from stackseg.progress import Progress

log = logging.getLogger(__name__)


def format_metrics(logs: dict, prefix: str = "") -> str:
    keys = ("loss", "iou", "dice")
    return " ".join(f"{k} {logs[prefix + k]:.4f}" for k in keys if prefix + k in logs)


class EpochProgress(keras.callbacks.Callback):
    def __init__(self, epochs: int, start_epoch: int):
        super().__init__()
        self.epochs = epochs
        # off a terminal the per-epoch log line is the progress: no second, plain line
        self.bar = Progress(
            epochs, "train", "epoch", initial=start_epoch, enabled=sys.stderr.isatty()
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self._started
        self.bar.clear()  # keep the bar below the log lines on a terminal
        log.info(
            "epoch %d/%d: %s | val %s | %.1f s",
            epoch + 1,
            self.epochs,
            format_metrics(logs),
            format_metrics(logs, "val_"),
            seconds,
        )
        self.bar.set_postfix(val_iou=f"{logs.get('val_iou', float('nan')):.4f}")
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()
