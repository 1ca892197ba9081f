"""The evaluate stage: one streaming pass of the trained model over the test split.

1. Read the model card and the manifest (through `stackseg.contracts`) and load the model;
   check it against the params' classes and the prepared images' channels.
2. Fit the intensity-threshold baseline on the train split (histograms only).
3. Predict every test frame at native resolution, thresholded at the model card's
   per-class `output.thresholds`; per frame, add the model's and the baseline's pixels to pooled
   counts, the label confusion and the probability histograms, and keep the N best and N
   worst frames (by frame IoU) for the overlays. Instance labels (`mask_format: labels`):
   the prediction is also cut into objects (params `objects:`) and matched with the pair's
   true ids (module `objects`).
4. The 95% intervals of the test IoUs: a bootstrap over test stacks (`uncertainty`).
5. Write metrics/evaluate.json and the plot files (module `outputs`, all or nothing); add
   them to the model's MLflow run when `tracking.mlflow.enabled` (`stackseg.tracking`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.config import Config
from stackseg.contracts import MANIFEST_NAME, Manifest, ModelCard, Pair, read_manifest
from stackseg.errors import InputDataError
from stackseg.evaluate import baseline, io, outputs, uncertainty
from stackseg.evaluate.objects import ObjectScores, read_ids
from stackseg.evaluate.results import Results, Throughput
from stackseg.predict import predict_frames
from stackseg.progress import progress
from stackseg.tracking.hooks import log_evaluation

log = logging.getLogger(__name__)


def fit_baseline(prepared: Path, pairs: list[Pair], channels: int, n_classes: int) -> list:
    if not pairs:
        raise InputDataError([f"{prepared / MANIFEST_NAME}: the train split is empty"])
    frames = io.iter_pairs(prepared, pairs, channels, n_classes)
    with progress(len(pairs), "baseline (train)", "frame") as bar:

        def counted():
            for _, image, mask in frames:
                yield image, mask
                bar.update(1)

        return baseline.fit_baseline(counted(), n_classes)


def true_ids(prepared: Path, pair: Pair) -> np.ndarray:
    """A labels pair's object ids, checked against its size."""
    if pair.ids is None:
        raise InputDataError(
            [
                f"{prepared / MANIFEST_NAME}: pair {pair.name} has no object ids; rerun "
                "`dvc repro -f prepare`"
            ]
        )
    found = read_ids(prepared / pair.ids)
    if found.shape != (pair.height, pair.width):
        raise InputDataError(
            [
                f"{prepared / pair.ids}: ids {found.shape}, manifest {(pair.height, pair.width)}; "
                "rerun `dvc repro -f prepare`"
            ]
        )
    return found


def score_test(
    cfg: Config,
    manifest: Manifest,
    model: Any,
    preprocess: Callable,
    multiple: int,
    threshold: float | np.ndarray,
    card: ModelCard | None = None,
) -> Results:
    """Steps 2-4: the baseline rules, every accumulated score of the test split (object
    scores too when the data are instance labels: `card` says the boundary class), and the
    intervals."""
    prepared = Path(cfg.paths.prepared)
    channels, classes = manifest.image_channels, list(cfg.classes)
    test = manifest.split_pairs("test")
    if not test:
        raise InputDataError([f"{prepared / MANIFEST_NAME}: the test split is empty"])
    rules = fit_baseline(prepared, manifest.split_pairs("train"), channels, len(classes))
    results = Results.empty(classes, min(cfg.evaluate.overlays, len(test)))
    results.rules = rules
    if card is not None:
        results.objects = ObjectScores.setup(cfg, manifest, card)
    # sizes grouped so same-size frames share batches; order does not change pooled counts
    ordered = sorted(test, key=lambda pair: (pair.height, pair.width))
    masks: dict[str, np.ndarray] = {}
    ids: dict[str, np.ndarray] = {}

    def frames():
        for pair, image, mask in io.iter_pairs(prepared, ordered, channels, len(classes)):
            masks[pair.name] = mask
            if results.objects is not None:
                ids[pair.name] = true_ids(prepared, pair)
            yield pair.name, image

    timer = Throughput(ordered, cfg.evaluate.batch_size)
    predictions = predict_frames(model, frames(), preprocess, multiple, cfg.evaluate.batch_size)
    with progress(len(test), "evaluate (test)", "frame") as bar:
        for name, image, probs in predictions:
            timer.frame_done()
            results.add(name, image, masks.pop(name), probs, threshold, ids.pop(name, None))
            bar.update(1)
    log.info("%s", timer.report())
    stack_of = {pair.name: pair.stack for pair in test}
    bootstrap = cfg.evaluate.bootstrap
    results.interval = uncertainty.intervals(
        classes,
        [stack_of[name] for name in results.frame_names],
        results.frame_names,
        results.frame_counts,
        bootstrap.resamples,
        bootstrap.min_stacks,
        cfg.seed,
    )
    return results


def run(cfg: Config) -> dict:
    """The whole stage (steps 1-5); returns the evaluate.json document it wrote."""
    from stackseg import trained
    from stackseg.runtime import KerasBackend

    model, card = trained.load_trained(cfg)
    manifest = read_manifest(cfg.paths.prepared, cfg.classes)
    trained.check_channels(model, manifest, cfg)
    results = score_test(
        cfg,
        manifest,
        # one traced graph for every frame size, as `stackseg infer --backend keras` runs it;
        # Keras' own predict_on_batch cannot trace bilinear upsampling (train.upsampling)
        KerasBackend(model),
        trained.preprocess_function(),
        card.input.size_multiple,
        card.output.threshold_array(),
        card,
    )
    metrics_path, plots_dir = Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    document = outputs.write_outputs(results, metrics_path, plots_dir)
    log_evaluation(cfg, Path.cwd(), card, document)  # MLflow (docs/mlflow.md), when enabled
    interval = document["interval"]
    log.info(
        "test mean IoU %.4f (95%% interval %.4f-%.4f over %d %ss; baseline %.4f), "
        "pixel accuracy %.4f -> %s, %s/",
        document["mean"]["iou"],
        interval["mean_iou"]["low"],
        interval["mean_iou"]["high"],
        interval["units"],
        interval["unit"],
        document["baseline"]["mean"]["iou"],
        document["pixel_accuracy"],
        metrics_path,
        plots_dir,
    )
    if "objects" in document:
        found = document["objects"]
        log.info(
            "test objects: F1 %.4f at IoU > %s, PQ %.4f, DSB AP %.4f",
            found["f1"],
            found["match_iou"],
            found["pq"],
            found["ap_dsb"],
        )
    return document
