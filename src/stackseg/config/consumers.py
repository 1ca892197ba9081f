"""The sections read by what consumes a trained model: export, the registry, infer, serve,
objects, the PR report, drift, the dashboard and experiment tracking.

Part of `stackseg.config` (which re-exports every name); same rules as `sections`: strict
types, no defaults, every value in params.yaml.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stackseg.config.types import MAX_IMAGE_SIZE, Fraction, PositiveInt, Section


class ExportConfig(Section):
    # tf2onnx 1.17 writes opsets up to 18
    opset: Annotated[int, Field(ge=13, le=18)]
    # parity on the test split: the largest |ONNX - Keras| probability allowed
    max_abs_diff: Annotated[float, Field(gt=0.0, le=0.01)]


class RegistryConfig(Section):
    """The gate of `stackseg register` (read from metrics/evaluate.json of the commit)."""

    artifact: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    min_test_iou: Fraction  # mean IoU over the classes
    min_class_iou: Fraction  # every class
    min_margin_over_baseline: Annotated[float, Field(ge=-1.0, le=1.0)]  # mean IoU - baseline's


class ObjectsConfig(Section):
    """Instance labels (prepare.mask_format labels): predicted masks -> objects, and the
    object-level metrics of evaluate (see stackseg.objects)."""

    # components: connected components of the foreground | watershed: seeded watershed
    method: Literal["components", "watershed"]
    # watershed seeds: distance (peaks of the distance transform) | boundary (the foreground
    # minus the boundary class: needs prepare.labels_boundary)
    seeds: Literal["distance", "boundary"]
    min_distance: PositiveInt  # distance seeds: smallest distance between two seeds, pixels
    min_size: Annotated[int, Field(ge=0)]  # smaller objects are dropped, pixels
    # a predicted and a true object match when their IoU is above this (metrics at this tau)
    match_iou: Annotated[float, Field(ge=0.5, lt=1.0)]


class ServeConfig(Section):
    """`stackseg serve` (command-line options override host, port and workers)."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    workers: PositiveInt  # uvicorn worker processes, each with its own model
    threads: Annotated[int, Field(ge=0)]  # inference threads per worker; 0 = the core count
    max_body_bytes: Annotated[int, Field(ge=1024)]  # larger request bodies: 413, not read
    max_pixels: Annotated[int, Field(ge=4096)]  # frames declaring more pixels: refused, 413
    timeout_s: Annotated[float, Field(gt=0.0)]  # one request, inference included: 504
    # the environment variable that holds the API key (X-API-Key); unset or empty: no key
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class ReportConfig(Section):
    """`stackseg report` verdicts and `stackseg noise` (docs/ci.md, "Beyond noise?")."""

    # runs at the base revision, seeds seed+1 .. seed+N, whose spread is the noise; at least
    # 2 (one run has no spread)
    noise_seeds: Annotated[int, Field(ge=2, le=20)]
    # the integer param the runs vary (`dvc exp run -S <param>=<s>`), dotted: train.seed
    # varies training alone; `seed` also draws the data split (prepare), so its spread
    # includes other test sets (wider, conservative)
    noise_param: Annotated[
        str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    ]
    # a metric changed "beyond noise" when |PR - base| > noise_k x the seeds' standard
    # deviation; 3 is ~2.1 standard deviations of a difference of two runs (sqrt(2) sigma)
    noise_k: Annotated[float, Field(gt=0.0, le=10.0)]


class InferConfig(Section):
    backend: Literal["onnx", "keras"]
    batch_size: PositiveInt
    threads: Annotated[int, Field(ge=0)]  # 0 = all cores
    # frames with more pixels than this are predicted in overlapping tiles (memory budget)
    max_frame_pixels: Annotated[int, Field(ge=4096)]
    tile_size: Annotated[int, Field(ge=64, le=MAX_IMAGE_SIZE * 4)]
    tile_overlap: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _overlap_below_tile(self) -> InferConfig:
        if 2 * self.tile_overlap >= self.tile_size:
            raise ValueError(
                f"tile_overlap must be below half of tile_size, got {self.tile_overlap} "
                f"for tile_size {self.tile_size}"
            )
        return self


class DriftConfig(Section):
    """Data drift against the training split's reference profile (`stackseg drift`, the drift
    stage, serve's GET /drift; docs/drift.md)."""

    bins: Annotated[int, Field(ge=8, le=256)]  # intensity histograms: fixed bins over 0..255
    # the thresholds are set on bootstrap samples of the reference so that a share alpha of
    # them is flagged by any metric: the verdict's false-alarm rate (drift/calibrate.py)
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)]
    bootstrap: Annotated[int, Field(ge=50, le=100_000)]  # reference resamples per threshold
    window: PositiveInt  # serve: the features of the last N frames it predicted
    seed: Annotated[int, Field(ge=0)]  # the bootstrap's: thresholds reproducible


class MlflowConfig(Section):
    """Runs and registered models in MLflow too; DVC stays the source of truth (docs/mlflow.md)."""

    enabled: bool
    # a tracking URI; sqlite:///relative/path.db is taken from the project root
    uri: str
    experiment: Annotated[str, Field(min_length=1)]
    # true: an unreachable tracking server fails the stage; false: one warning
    required: bool


class TrackingConfig(Section):
    mlflow: MlflowConfig


class DashboardConfig(Section):
    """`stackseg dashboard` (Streamlit; the command line's --host/--port override these)."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    # frames of an uploaded stack the "Try the model" page holds in memory (with their
    # probabilities); longer stacks are refused with a pointer to `stackseg infer`
    max_frames: PositiveInt
