"""Training callbacks whose state can be saved at an epoch boundary and restored.

All of them share one `RunState`, which is what a resume checkpoint stores next to the
weights: the per-epoch history, the best epoch so far and the learning-rate schedule.
Early stopping and learning-rate reduction are derived from the best epoch, so restoring
RunState restores them exactly. Callbacks run in the order built by `training_callbacks`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import keras
import numpy as np
from dvclive.keras import DVCLiveCallback

from stackseg.train.resume import ResumeStore

log = logging.getLogger(__name__)
MONITOR = "val_iou"
# dvclive metric names live under fit/ ("fit/train/loss", "fit/val/iou", "fit/best/..."), so
# `dvc metrics`/`dvc exp show` columns (fit.train.loss) cannot be mistaken for params
# (train.loss is the loss function's name).
LIVE_PREFIX = "fit"
# Dropout seed-counter offset per epoch: far more than the dropout draws of one epoch.
SEED_STRIDE = 2**20


@dataclass
class RunState:
    history: list[dict] = field(default_factory=list)  # Keras logs + learning_rate per epoch
    best_value: float | None = None
    best_epoch: int | None = None  # 0-based
    last_lr_reduction: int = -1
    stopped_early: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RunState:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def best_summary(self) -> dict:
        if self.best_epoch is None:
            return {}
        entry = self.history[self.best_epoch]
        return {
            "epoch": self.best_epoch + 1,
            "step": self.best_epoch,
            "val": {k[4:]: v for k, v in entry.items() if k.startswith("val_")},
        }


class EpochReseed(keras.callbacks.Callback):
    """Dropout masks of epoch e depend only on (layer seed, e), not on earlier epochs."""

    def on_epoch_begin(self, epoch, logs=None):
        for variable in self.model.variables:
            if variable.name == "seed_generator_state":
                state = np.asarray(variable.numpy())
                variable.assign(np.array([state[0], epoch * SEED_STRIDE], dtype=state.dtype))


class Recorder(keras.callbacks.Callback):
    """Appends the epoch's metrics (floats) and learning rate to the history."""

    def __init__(self, state: RunState):
        super().__init__()
        self.state = state

    def on_epoch_begin(self, epoch, logs=None):
        self._learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        entry = {name: float(value) for name, value in (logs or {}).items()}
        entry["learning_rate"] = self._learning_rate
        del self.state.history[epoch:]
        self.state.history.append(entry)


class BestKeeper(keras.callbacks.Callback):
    """Keeps the variables of the epoch with the highest val IoU (first one on ties)."""

    def __init__(self, state: RunState, best_values: list[np.ndarray] | None = None):
        super().__init__()
        self.state = state
        self.best_values = best_values
        self.improved = False

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {})[MONITOR])
        best = self.state.best_value
        self.improved = not math.isnan(value) and (best is None or value > best)
        if self.improved:
            self.state.best_value, self.state.best_epoch = value, epoch
            self.best_values = [np.array(v.numpy()) for v in self.model.variables]


class EarlyStop(keras.callbacks.Callback):
    """Stops after `patience` epochs without a new best val IoU (0 = never)."""

    def __init__(self, state: RunState, patience: int):
        super().__init__()
        self.state, self.patience = state, patience

    def on_epoch_end(self, epoch, logs=None):
        since_best = epoch - (self.state.best_epoch if self.state.best_epoch is not None else -1)
        if self.patience and since_best >= self.patience:
            self.state.stopped_early = True
            self.model.stop_training = True
            log.info("early stopping: no better val IoU for %d epochs", since_best)


class PlateauLR(keras.callbacks.Callback):
    """ReduceLROnPlateau on val IoU: lr *= factor after `patience` epochs without a new
    best since the last improvement or reduction."""

    def __init__(self, state: RunState, factor: float, patience: int):
        super().__init__()
        self.state, self.factor, self.patience = state, factor, patience

    def on_epoch_end(self, epoch, logs=None):
        best = self.state.best_epoch if self.state.best_epoch is not None else -1
        if epoch - max(best, self.state.last_lr_reduction) >= self.patience:
            optimizer = self.model.optimizer
            new_lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) * self.factor
            optimizer.learning_rate.assign(new_lr)
            self.state.last_lr_reduction = epoch
            log.info("val IoU on a plateau: learning rate reduced to %.3g", new_lr)


def live_name(name: str) -> str:
    """dvclive name of a Keras log entry: val_iou -> fit/val/iou, loss -> fit/train/loss."""
    if name.startswith("val_"):
        return f"{LIVE_PREFIX}/val/{name[4:]}"
    return f"{LIVE_PREFIX}/train/{name}"


def set_best(live, best: dict) -> None:
    """The best epoch so far into the summary, beside the last epoch: fit.best.*."""
    live.summary.setdefault(LIVE_PREFIX, {})["best"] = best


def log_epoch(live, entry: dict, best: dict) -> None:
    """One dvclive step: fit/train/<metric> and fit/val/<metric> plots, summary with the best."""
    for name, value in entry.items():
        live.log_metric(live_name(name), value)
    set_best(live, best)
    live.next_step()


class LiveLogger(DVCLiveCallback):
    """dvclive's Keras callback, logging from the shared history (so a resumed run can
    replay the epochs before the crash) and leaving `Live.end()` to the training loop."""

    def __init__(self, live, state: RunState):
        super().__init__(live=live)
        self.state = state

    def replay(self) -> None:
        for epoch, entry in enumerate(self.state.history):
            partial = RunState(history=self.state.history[: epoch + 1])
            partial.best_epoch = _best_epoch(partial.history)
            log_epoch(self.live, entry, partial.best_summary())

    def on_epoch_end(self, epoch, logs=None):
        log_epoch(self.live, self.state.history[epoch], self.state.best_summary())

    def on_train_end(self, logs=None):
        pass


def _best_epoch(history: list[dict]) -> int | None:
    best, best_epoch = None, None
    for epoch, entry in enumerate(history):
        value = entry[MONITOR]
        if not math.isnan(value) and (best is None or value > best):
            best, best_epoch = value, epoch
    return best_epoch


class Checkpointer(keras.callbacks.Callback):
    """Writes the resume checkpoint at the end of every epoch (runs last)."""

    def __init__(self, store: ResumeStore, state: RunState, keeper: BestKeeper):
        super().__init__()
        self.store, self.state, self.keeper = store, state, keeper

    def on_epoch_end(self, epoch, logs=None):
        self.store.save(
            epoch + 1,
            self.state.to_json(),
            [np.asarray(v.numpy()) for v in self.model.variables],
            [np.asarray(v.numpy()) for v in self.model.optimizer.variables],
            self.keeper.best_values if self.keeper.improved else None,
        )
