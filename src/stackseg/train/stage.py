"""The train stage: prepared pairs -> models/model.keras, models/model.json, dvclive logs.

1. Read the manifest (through `stackseg.contracts`), check its files and hash the data
   (before TensorFlow runs anything).
2. Check the reproducibility mode's environment (set by `stackseg train` before TensorFlow
   started), fix determinism and precision, build and compile the model.
3. Resume from the newest checkpoint of this exact run, if one exists.
4. Fit with the callbacks (best weights, early stopping, lr plateau, dvclive, checkpoint;
   MLflow's per-epoch metrics when `tracking.mlflow.enabled`: `stackseg.tracking`).
5. Save the best epoch's weights; with `train.threshold: auto` choose each class's
   threshold on the val split (`threshold`); write the model card (`contracts.ModelCard`);
   delete the checkpoints; finish the MLflow run (tags, card, curves).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import keras

from stackseg.config import Config
from stackseg.contracts import ModelCard, write_card
from stackseg.models import build_model, save_model, size_multiple
from stackseg.tracking.hooks import start_train
from stackseg.train import callbacks as cb
from stackseg.train import distributed, threshold
from stackseg.train.dataset import build_train_input, default_cache_budget
from stackseg.train.determinism import (
    check_pinned,
    configure_determinism,
    log_mode,
    set_precision,
)
from stackseg.train.live import open_live
from stackseg.train.losses import SegmentationLoss
from stackseg.train.metrics import segmentation_metrics
from stackseg.train.model_card import build_card, code_hash, train_params
from stackseg.train.prepared import check_crop_size, prepared_hash, raw_hash, read_prepared
from stackseg.train.resume import Checkpoint, ResumeStore, resume_key

log = logging.getLogger(__name__)


def compile_model(model: keras.Model, cfg: Config) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.train.learning_rate),
        loss=SegmentationLoss(cfg.train.loss),
        metrics=segmentation_metrics(list(cfg.classes), cfg.train.training_threshold),
    )


def restore(model: keras.Model, checkpoint: Checkpoint) -> None:
    """Put back every model and optimizer variable saved at the epoch boundary."""
    model.optimizer.build(model.trainable_variables)
    for variables, values, what in (
        (model.variables, checkpoint.model_values, "model"),
        (model.optimizer.variables, checkpoint.optimizer_values, "optimizer"),
    ):
        if len(variables) != len(values):
            raise RuntimeError(f"resume checkpoint does not match the {what}; delete it")
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


def run(
    cfg: Config,
    cwd: Path | None = None,
    cache_budget: int | None = None,
    replicas: distributed.Replicas | None = None,
) -> ModelCard:
    """Run the whole train stage (steps 1-5); returns the model card it wrote.

    `cwd` is the project whose git history dates the training code (default: the current
    directory); `cache_budget` caps the decoded-pair cache in bytes (default: half the
    available memory); `replicas`: data-parallel on JAX (distributed.py), where only the
    chief writes outputs.
    """
    cwd = Path.cwd() if cwd is None else cwd
    t = cfg.train
    data = read_prepared(cfg.paths.prepared, cfg.classes)
    check_crop_size(data, t.image_size, size_multiple(t))
    hashes = {"raw": raw_hash(data), "prepared": prepared_hash(data), "code": code_hash()}
    # data-parallel runs: engine, replicas and global batch join the params (card, resume key)
    extra = {} if replicas is None else {"distributed": replicas.summary(t.batch_size)}
    key = resume_key(
        {"params": train_params(cfg), "data": hashes["prepared"], "code": hashes["code"], **extra}
    )
    store = ResumeStore(cfg.paths.train_resume, key)
    if store.others():
        log.info("%s holds checkpoints of other runs; delete them if not needed", store.root)

    check_pinned(t)
    log_mode(t)
    # MLflow (docs/mlflow.md); None when off or unreachable, and on workers other than the chief
    tracked = start_train(cfg, cwd) if replicas is None or replicas.chief else None
    configure_determinism(t.seed)
    set_precision(t.precision)
    model = build_model(t, len(cfg.classes), data.image_channels)
    compile_model(model, cfg)
    log.info(
        "model %s: %s parameters, %s precision",
        model.name,
        f"{model.count_params():,}",
        t.precision,
    )

    checkpoint = store.latest()
    state = cb.RunState()
    best_values = None
    if checkpoint is not None:
        restore(model, checkpoint)
        state = cb.RunState.from_json(checkpoint.state)
        best_values = checkpoint.best_values
        log.info("resuming after epoch %d from %s", checkpoint.epochs_done, store.dir)
    start = len(state.history)

    batch = t.batch_size * (1 if replicas is None else replicas.devices)  # the global batch
    inputs = build_train_input(
        data.splits["train"],
        data.splits["val"],
        data.image_channels,
        len(cfg.classes),
        t if replicas is None else t.model_copy(update={"batch_size": batch}),
        t.seed,
        start,
        default_cache_budget() if cache_budget is None else cache_budget,
    )
    if replicas is not None:  # this process's slice of each full global batch
        steps = distributed.full_steps(len(data.splits["train"]), t.batch_size, replicas)
        train = distributed.shard_train(
            inputs.train, steps, t.epochs - start, replicas, t.batch_size
        )
        inputs = dataclasses.replace(inputs, train=train, steps_per_epoch=steps)
    chief = replicas is None or replicas.chief
    keeper = cb.BestKeeper(state, best_values)
    callbacks = [cb.EpochReseed(), cb.Recorder(state), keeper, cb.EarlyStop(state, t.patience)]
    if t.reduce_lr.enabled:
        callbacks.append(cb.PlateauLR(state, t.reduce_lr.factor, t.reduce_lr.patience))
    live = open_live(cfg.paths.train_live, train_params(cfg)) if chief else None
    if live is not None:  # only the chief logs, checkpoints and reports to MLflow
        live_logger = cb.LiveLogger(live, state)
        live_logger.replay()
        callbacks += [live_logger, cb.Checkpointer(store, state, keeper)]
        callbacks += [tracked.callback()] if tracked else []

    if start < t.epochs and not state.stopped_early:
        from stackseg.train.progress import EpochProgress

        log.info(
            "training epochs %d-%d, %d steps of %d",
            start + 1,
            t.epochs,
            inputs.steps_per_epoch,
            batch,
        )
        model.fit(
            inputs.train,
            validation_data=inputs.val,
            epochs=t.epochs,
            initial_epoch=start,
            steps_per_epoch=inputs.steps_per_epoch,
            callbacks=[*callbacks, *([EpochProgress(t.epochs, start)] if chief else [])],
            shuffle=False,  # the dataset is already ordered per (seed, epoch)
            verbose=0,
        )

    if keeper.best_values is not None:  # None only if val IoU was NaN in every epoch
        for variable, value in zip(model.variables, keeper.best_values, strict=True):
            variable.assign(value)
    card = build_card(cfg, data, hashes, state, size_multiple(t), cwd)
    if replicas is not None:
        distributed.check_agreement(model, replicas)
        card = card.model_copy(update={"params": {**card.params, **extra}})
    # auto: per class, chosen on val (every worker predicts: collectives need them all)
    card = threshold.apply(cfg, card, model, data)
    if live is None:  # a worker other than the chief writes nothing
        return card
    save_model(model, cfg.paths.model)
    write_card(card, cfg.paths.model_card)
    cb.set_best(live, state.best_summary())
    live.end()
    store.clear()
    if tracked:
        tracked.finish(cfg, cwd, card)
    log.info(
        "best epoch %s: val IoU %.4f; wrote %s and %s",
        card.training.best_epoch,
        card.training.best_val.get("iou", float("nan")),
        cfg.paths.model,
        cfg.paths.model_card,
    )
    return card
