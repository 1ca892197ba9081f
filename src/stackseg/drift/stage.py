"""The reference and drift stages, and `stackseg drift` on files (commands/drift.py).

Reference (`stackseg drift --build`, the dvc stage `reference`):
1. Profile the training split's frames (features, histograms on drift.bins fixed bins;
   the frames' stacks are the bootstrap's groups).
2. Predict the test split with the model (params infer.backend) and keep each frame's
   class fractions and confidence (outputs.py).
3. Calibrate the thresholds by bootstrapping both (params drift.alpha, bootstrap, seed) and
   write paths.drift_reference.

Drift (`stackseg drift --split test`, the dvc stage `drift`; or `stackseg drift INPUT...`):
1. Load the reference (of the workspace's model, --reference, or a registry version's).
2. Profile the frames: a split of the prepared data, or image files, TIFF stacks and folders
   (infer's readers; uint16/float stacks scaled to 8 bits by prepare's rule, each its own
   group).
3. Compare (compare.py); write the metrics file and the plots; the report goes back to
   the command, which decides the exit status (--fail-on-drift).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stackseg import atomic
from stackseg.config import Config
from stackseg.drift.compare import DriftReport, compare
from stackseg.drift.outputs import output_profile, prediction_features
from stackseg.drift.plots import write_plots
from stackseg.drift.profile import Profile, profile_frames
from stackseg.drift.reference import Reference, build_reference, load_reference
from stackseg.errors import InputDataError
from stackseg.progress import progress

log = logging.getLogger(__name__)


def split_profile(cfg: Config, split: str, bins: int) -> Profile:
    """Step 1 / drift step 2: the Profile of a prepared split (groups: stacks), histograms
    on `bins` bins (the reference's)."""
    from stackseg.contracts import MANIFEST_NAME, read_manifest
    from stackseg.evaluate.io import read_image

    prepared = Path(cfg.paths.prepared)
    manifest = read_manifest(prepared, cfg.classes)
    pairs = manifest.split_pairs(split)
    if not pairs:
        raise InputDataError(f"{prepared / MANIFEST_NAME}: the {split} split is empty")

    def frames() -> Iterator[np.ndarray]:
        with progress(len(pairs), f"drift: {split} split features", "frame") as bar:
            for pair in pairs:
                yield read_image(prepared / pair.image, manifest.image_channels)
                bar.update(1)

    return profile_frames(frames(), bins, [pair.stack for pair in pairs])


def test_predictions(cfg: Config, backend_name: str) -> Profile:
    """Step 2: the test split's per-frame class fractions and confidence."""
    from stackseg.contracts import read_manifest
    from stackseg.evaluate.io import iter_pairs
    from stackseg.infer import model as models
    from stackseg.predict import predict_frames
    from stackseg.preprocessing import to_model_input

    files = models.workspace_model(cfg)
    card = models.read_model_card(files)
    backend = models.load_backend(files, backend_name, cfg.infer.threads, card)
    prepared = Path(cfg.paths.prepared)
    manifest = read_manifest(prepared, cfg.classes)
    pairs = manifest.split_pairs("test")
    n_classes = len(cfg.classes)
    frames = (
        (pair, image)
        for pair, image, _ in iter_pairs(prepared, pairs, manifest.image_channels, n_classes)
    )
    rows = []
    with progress(len(pairs), "drift: test split predictions", "frame") as bar:
        for _, _, probs in predict_frames(
            backend, frames, to_model_input, card.input.size_multiple, cfg.infer.batch_size
        ):
            rows.append(prediction_features(probs, card.classes, card.output.thresholds))
            bar.update(1)
    return output_profile(rows, [pair.stack for pair in pairs])


def build(cfg: Config, backend: str) -> Reference:
    """The reference stage: steps 1-3; writes paths.drift_reference."""
    images = split_profile(cfg, "train", cfg.drift.bins)
    outputs = test_predictions(cfg, backend)
    drift = cfg.drift
    reference = build_reference(
        images,
        drift.bins,
        drift.alpha,
        drift.bootstrap,
        drift.seed,
        outputs,
        about={
            "images": f"train split, {images.frames} frames",
            "outputs": f"test split predictions ({backend}), {outputs.frames} frames",
        },
    )
    path = reference.save(cfg.paths.drift_reference)
    log.info("drift reference: %s (%d training frames)", path, images.frames)
    return reference


def files_profile(cfg: Config, inputs: list[str], bins: int) -> Profile:
    """Drift step 2 for files: every frame of every input, as the model would see it."""
    from stackseg.infer import sources
    from stackseg.prepare.scaling import Scaler

    paths = sources.find_inputs(inputs)
    low, high = cfg.prepare.scale_low_percentile, cfg.prepare.scale_high_percentile
    groups: list[str] = []

    def frames() -> Iterator[np.ndarray]:
        with progress(None, "drift: features", "frame") as bar:
            for path in paths:
                reader = sources.open_input(path)
                try:
                    scaler = Scaler(reader.dtype, sources.stack_window(path, reader, low, high))
                    for frame in sources.scaled_frames(path, reader, scaler):
                        groups.append(str(path))
                        yield frame
                        bar.update(1)
                finally:
                    reader.close()

    profile = profile_frames(frames(), bins)
    if profile.frames:
        profile.groups = np.unique(groups, return_inverse=True)[1].astype(np.int64)
    return profile


def check(reference: Reference, current: Profile, metrics: Path, plots: Path) -> DriftReport:
    """Drift step 3: compare, write the metrics file and the plots."""
    report = compare(reference, current)
    atomic.write_text(metrics, json.dumps(report.to_json(), indent=2) + "\n")
    write_plots(report, plots)
    return report


def reference_for(cfg: Config, path: Path | None) -> Reference:
    """Drift step 1: the reference at `path`, else the workspace's (paths.drift_reference)."""
    return load_reference(path if path is not None else cfg.paths.drift_reference)
