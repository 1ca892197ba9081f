"""What the train and evaluate stages log to MLflow (params `tracking.mlflow`).

Train (`start_train`, `TrainRun.callback`, `TrainRun.finish`):
1. a run in the experiment (named after the DVC experiment when `dvc exp run` runs it), with
   every param flattened (`train.epochs`, ...);
2. each epoch's Keras logs (loss, iou, val_iou, ...) as metrics at step = epoch;
3. at the end: the tags of `lineage` (git commit, data hashes, DVC experiment, the model's
   sha256 and DVC-remote URL), the model card (artifact `card/`) and dvclive's training
   curves (artifact `curves/`); the run is marked finished.
4. if the stage fails or is stopped before that (an error, Ctrl-C, SIGTERM), `end_open_runs`
   (called by `stackseg train`) marks the run FAILED or KILLED, so MLflow does not show it
   RUNNING forever; only a SIGKILL leaves it so.

Evaluate (`log_evaluation`): finds the run of the model it scored by the model file's sha256
tag (a new run when train was not tracked) and adds the numbers of metrics/evaluate.json as
`test.*` metrics, the file itself and the plots (artifacts `evaluate/`).

Nothing here writes a stage output: the model bytes and the card are the same with tracking
on or off (tests/tracking).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stackseg.config import Config
from stackseg.contracts import ModelCard
from stackseg.tracking import lineage
from stackseg.tracking.session import Session, connect

log = logging.getLogger(__name__)

# MLflow's limits per log_batch request
MAX_PARAMS, MAX_METRICS = 100, 1000
# characters MLflow refuses in a key (class names come from the user's params)
NOT_IN_KEY = re.compile(r"[^\w\-. /]")


def flatten(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) pairs of nested mappings; lists are leaves."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from flatten(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def log_metrics(session: Session, run_id: str, values: Mapping[str, float], step: int) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [
        Metric(NOT_IN_KEY.sub("_", key), float(value), now, step) for key, value in values.items()
    ]
    for chunk in _chunks(metrics, MAX_METRICS):
        session.call(session.client.log_batch, run_id, metrics=chunk)


class TrainRun:
    """The MLflow run of one train stage."""

    def __init__(self, session: Session, run_id: str):
        self.session, self.run_id = session, run_id
        _OPEN.append(self)

    def callback(self) -> Any:
        """A Keras callback logging each epoch's logs (one request per epoch)."""
        import keras

        tracked = self

        class MlflowEpochs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                numbers = {
                    key: value
                    for key, value in (logs or {}).items()
                    if isinstance(value, int | float) or hasattr(value, "__float__")
                }
                log_metrics(tracked.session, tracked.run_id, numbers, epoch + 1)

        return MlflowEpochs()

    def finish(self, cfg: Config, root: Path, card: ModelCard) -> None:
        """Tags, the card and the curves; the run marked finished."""
        session, run_id = self.session, self.run_id
        tags = lineage.run_tags(root, Path(cfg.paths.model), card)
        for name, value in tags.items():
            session.call(session.client.set_tag, run_id, name, value)
        session.call(session.client.log_artifact, run_id, cfg.paths.model_card, "card")
        curves = Path(cfg.paths.train_live)
        if curves.is_dir():
            session.call(session.client.log_artifacts, run_id, str(curves), "curves")
        session.call(session.client.set_terminated, run_id, "FINISHED")
        _OPEN.remove(self)
        if session.active:
            log.info(
                "MLflow: run %s in experiment %s (%.1f s in MLflow)",
                run_id,
                session.settings.experiment,
                session.seconds,
            )


# runs started and not finished: the train stage failed or was stopped if any is left
_OPEN: list[TrainRun] = []


def end_open_runs(exc: BaseException) -> None:
    """Mark the runs the failed stage left open FAILED (an error) or KILLED (Ctrl-C, SIGTERM)."""
    status = "FAILED" if isinstance(exc, Exception) else "KILLED"
    while _OPEN:
        run = _OPEN.pop()
        run.session.call(run.session.client.set_terminated, run.run_id, status)
        if run.session.active:
            log.info("MLflow: run %s marked %s", run.run_id, status)


def start_train(cfg: Config, root: Path) -> TrainRun | None:
    """The train stage's run, its params logged; None when tracking is off or unreachable."""
    session = connect(cfg.tracking.mlflow, root, "this train run is")
    if session is None:
        return None
    name = os.environ.get("DVC_EXP_NAME")
    run = session.call(
        session.client.create_run,
        session.experiment_id,
        run_name=name,
        tags={"stackseg.stage": "train"},
    )
    if run is None:
        return None
    from mlflow.entities import Param

    params = [
        Param(NOT_IN_KEY.sub("_", key), str(value)[:6000])
        for key, value in flatten(cfg.model_dump(mode="json"))
    ]
    for chunk in _chunks(params, MAX_PARAMS):
        session.call(session.client.log_batch, run.info.run_id, params=chunk)
    return TrainRun(session, run.info.run_id) if session.active else None


def find_model_run(session: Session, sha256: str) -> str | None:
    """The newest run of the experiment tagged with this model file's sha256."""
    runs = session.call(
        session.client.search_runs,
        [session.experiment_id],
        filter_string=f"tags.`{lineage.MODEL_SHA_TAG}` = '{sha256}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def model_run(session: Session, cfg: Config, root: Path, card: ModelCard) -> str | None:
    """The run of the workspace model (`find_model_run`), or a new one with its tags."""
    model = Path(cfg.paths.model)
    found = find_model_run(session, lineage.file_digest(model, "sha256"))
    if found is not None or not session.active:
        return found
    tags = {"stackseg.stage": "evaluate", **lineage.run_tags(root, model, card)}
    run = session.call(session.client.create_run, session.experiment_id, tags=tags)
    if run is None:
        return None
    log.info("MLflow: no run of this model yet (train was not tracked): new run")
    session.call(session.client.set_terminated, run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def log_evaluation(cfg: Config, root: Path, card: ModelCard, document: Mapping) -> None:
    """The evaluate stage's metrics and plots, in the run of the model it scored."""
    session = connect(cfg.tracking.mlflow, root, "this evaluation is")
    if session is None:
        return
    run_id = model_run(session, cfg, root, card)
    if run_id is None:
        return
    numbers = {
        f"test.{key}": value
        for key, value in flatten(document)
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    log_metrics(session, run_id, numbers, 0)
    session.call(session.client.log_artifact, run_id, cfg.paths.evaluate_metrics, "evaluate")
    plots = Path(cfg.paths.evaluate_plots)
    if plots.is_dir():
        session.call(session.client.log_artifacts, run_id, str(plots), "evaluate/plots")
    if session.active:
        log.info("MLflow: evaluation added to run %s (%.1f s in MLflow)", run_id, session.seconds)
