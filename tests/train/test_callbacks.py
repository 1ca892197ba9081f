"""Best-epoch tracking, early stopping, lr plateau and dropout reseeding, on a tiny model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from stackseg.train import callbacks as cb


@pytest.fixture
def model():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1)(keras.layers.Dropout(0.5)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _run(callbacks, model, ious):
    for callback in callbacks:
        callback.set_model(model)
    for epoch, iou in enumerate(ious):
        logs = {"loss": 1.0 - iou, "val_iou": iou, "val_loss": 1.0 - iou}
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        for callback in callbacks:
            callback.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            return epoch
    return None


def test_best_keeper_early_stop_and_plateau(model):
    state = cb.RunState()
    keeper = cb.BestKeeper(state)
    callbacks = [
        cb.Recorder(state),
        keeper,
        cb.EarlyStop(state, patience=3),
        cb.PlateauLR(state, factor=0.5, patience=2),
    ]
    stopped = _run(callbacks, model, [0.1, 0.5, 0.4, 0.5, 0.3, 0.2, 0.9])
    # best 0.5 at epoch 1 (the tie at epoch 3 does not count); 3 epochs without improvement
    assert (state.best_epoch, state.best_value) == (1, 0.5)
    assert stopped == 4 and state.stopped_early
    assert len(state.history) == 5
    # lr halved once, at epoch 3 (2 epochs after the best), then counting restarts
    assert state.last_lr_reduction == 3
    assert [e["learning_rate"] for e in state.history] == pytest.approx([0.01] * 4 + [0.005])
    assert state.best_summary() == {
        "epoch": 2,
        "step": 1,
        "val": {"iou": 0.5, "loss": 0.5},
    }
    restored = cb.RunState.from_json(state.to_json())
    assert restored == state


def test_patience_zero_never_stops(model):
    state = cb.RunState()
    callbacks = [cb.Recorder(state), cb.BestKeeper(state), cb.EarlyStop(state, patience=0)]
    assert _run(callbacks, model, [0.9] + [0.1] * 10) is None
    assert not state.stopped_early


def test_best_keeper_keeps_the_best_weights(model):
    state = cb.RunState()
    keeper = cb.BestKeeper(state)
    keeper.set_model(model)
    keeper.on_epoch_end(0, {"val_iou": 0.7})
    saved = [np.array(v) for v in keeper.best_values]
    model.layers[-1].kernel.assign(np.ones((4, 1)))
    keeper.on_epoch_end(1, {"val_iou": 0.6})
    assert not keeper.improved
    for got, want in zip(keeper.best_values, saved, strict=True):
        np.testing.assert_array_equal(got, want)
    keeper.on_epoch_end(2, {"val_iou": float("nan")})
    assert not keeper.improved and state.best_epoch == 0


def test_dropout_masks_depend_only_on_the_epoch(model):
    reseed = cb.EpochReseed()
    reseed.set_model(model)
    dropout = model.layers[1]
    x = np.ones((8, 4), np.float32)

    def masks(epoch):
        reseed.on_epoch_begin(epoch)
        return [np.asarray(dropout(x, training=True)) for _ in range(3)]

    first = masks(3)
    masks(0)  # anything may happen in between
    np.testing.assert_array_equal(np.stack(masks(3)), np.stack(first))
    assert not np.array_equal(masks(4)[0], first[0])
