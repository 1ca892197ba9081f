"""The typed sections of params.yaml: one pydantic model per section, no defaults.

Loaded and validated by `stackseg.config` (which re-exports every name here); each stage
reads its own section. Strict types: "3" is not an int and 1 is not a bool (floats accept
ints, as YAML writes 1 for 1.0); only paths are lax, since YAML has no path type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stackseg.classnames import class_name_problem
from stackseg.contracts import MAX_CLASSES

# The allowed names of `train.loss` and `train.arch` are defined once, here, where the config
# can check them without importing TensorFlow: train/losses.py builds its registry from
# LOSSES, and tests/test_config.py checks that models/sm_factory.py maps exactly the sm_*
# names of ARCHITECTURES.
# A combined loss is its terms joined by "_" (bce_dice = bce + dice): train/losses.py
# builds its registry from these names.
LossName = Literal["bce", "bce_dice", "bce_jaccard", "focal", "focal_dice", "dice", "jaccard"]
LOSSES: tuple[str, ...] = get_args(LossName)
# "unet" is models/unet.py; the sm_* names are segmentation-models' (models/sm_factory.py).
ArchName = Literal["unet", "sm_unet", "sm_fpn", "sm_linknet"]
ARCHITECTURES: tuple[str, ...] = get_args(ArchName)

# Input sides of the sm_* architectures must be multiples of 32 (five 2x downsamplings);
# tests/test_config.py checks models/sm_factory.py's SIZE_MULTIPLE against it.
SM_SIZE_MULTIPLE = 32
# Largest train.image_size: at 4096 TensorFlow crashed (exit 139, issue 20) or, with the
# tiny profile's model, ran out of memory (killed); 2048 is 8x the full profile's 256.
MAX_IMAGE_SIZE = 2048
# The global seed goes to numpy (keras.utils.set_random_seed), which takes 0..2**32-1 only.
MAX_SEED = 2**32 - 1

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# YAML has no path type: a path field takes a string (strict mode would refuse one)
LaxPath = Annotated[Path, Field(strict=False)]


class _Section(BaseModel):
    # strict: "3" is not an int and 1 is not a bool; floats accept ints (YAML writes 1 for 1.0).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Paths(_Section):
    # lax for paths only: params.yaml writes them as strings
    raw: LaxPath
    prepared: LaxPath
    model: LaxPath
    model_card: LaxPath
    train_live: LaxPath
    # resume checkpoints of an interrupted train (git- and dvc-ignored, never pushed)
    train_resume: LaxPath
    evaluate_metrics: LaxPath
    evaluate_plots: LaxPath
    # the export stage: the ONNX model and its parity figures
    onnx: LaxPath
    export_metrics: LaxPath
    # models fetched by `stackseg infer --rev/--stage/--version` (not versioned)
    model_cache: LaxPath


class SynthConfig(_Section):
    stacks: PositiveInt
    frames: PositiveInt
    height: Annotated[int, Field(ge=16)]
    width: Annotated[int, Field(ge=16)]
    channels: Literal[1, 3]
    dtype: Literal["uint8", "uint16", "float32"]
    seed: Annotated[int, Field(ge=0)]


class SplitFractions(_Section):
    train: Fraction
    val: Fraction
    test: Fraction

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1.0, got {total:g}")
        return self


class PrepareConfig(_Section):
    jpeg_quality: Annotated[int, Field(ge=1, le=100)]
    # channels: (H,W,C) binary per class | index: (H,W) class indices | labels: (H,W) instance
    # ids (0 = background, one id per object; one class, two with labels_boundary)
    mask_format: Literal["channels", "index", "labels"]
    # labels only: a second class for object boundaries and the pixels where two ids touch
    labels_boundary: bool
    split_by: Literal["stack", "frame"]
    split: SplitFractions
    # a split with fewer stacks or pairs gets a warning: its metrics depend on which they are
    min_split_stacks: Annotated[int, Field(ge=0)]
    min_split_pairs: Annotated[int, Field(ge=0)]
    workers: Annotated[int, Field(ge=0)]
    # uint16/float images: per-stack percentile window mapped to 0..255 (see prepare/scaling.py)
    scale_low_percentile: Annotated[float, Field(ge=0.0, lt=100.0)]
    scale_high_percentile: Annotated[float, Field(gt=0.0, le=100.0)]

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> PrepareConfig:
        if self.scale_low_percentile >= self.scale_high_percentile:
            raise ValueError(
                "scale_low_percentile must be below scale_high_percentile, got "
                f"{self.scale_low_percentile:g} and {self.scale_high_percentile:g}"
            )
        return self


class AugmentConfig(_Section):
    flip: bool
    rot90: bool
    brightness: Annotated[float, Field(ge=0.0, le=1.0)]
    contrast: Annotated[float, Field(ge=0.0, le=1.0)]


class ReduceLRConfig(_Section):
    enabled: bool
    factor: Annotated[float, Field(gt=0.0, lt=1.0)]
    patience: PositiveInt


class TrainConfig(_Section):
    arch: ArchName
    backbone: str
    encoder_weights: str | None
    depth: Annotated[int, Field(ge=1, le=6)]
    base_filters: PositiveInt
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)]
    upsampling: Literal["transpose", "bilinear"]
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: Annotated[float, Field(gt=0.0)]
    loss: LossName
    image_size: Annotated[int, Field(ge=16)]
    augment: AugmentConfig
    patience: Annotated[int, Field(ge=0)]
    reduce_lr: ReduceLRConfig
    precision: Literal["float32", "mixed_bfloat16"]
    # the one probability threshold: training metrics, the model card, evaluate
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)]

    @model_validator(mode="after")
    def _image_size_fits_the_model(self) -> TrainConfig:
        multiple = input_multiple(self.arch, self.depth)
        if self.image_size % multiple or self.image_size > MAX_IMAGE_SIZE:
            raise ValueError(
                f"image_size must be a multiple of {multiple} ({self.arch} halves its input "
                f"{multiple.bit_length() - 1} times) up to {MAX_IMAGE_SIZE}, got {self.image_size}"
            )
        return self


def input_multiple(arch: str, depth: int) -> int:
    """What an input's height and width must be a multiple of (models.size_multiple)."""
    return 2**depth if arch == "unet" else SM_SIZE_MULTIPLE


class BootstrapConfig(_Section):
    """The 95% intervals of the test IoUs (evaluate/uncertainty.py)."""

    resamples: Annotated[int, Field(ge=100, le=100_000)]
    # resample stacks when the test split has at least this many, frames otherwise
    min_stacks: Annotated[int, Field(ge=2)]


class EvaluateConfig(_Section):
    overlays: Annotated[int, Field(ge=0)]
    batch_size: PositiveInt
    bootstrap: BootstrapConfig


class ExportConfig(_Section):
    # tf2onnx 1.17 writes opsets up to 18
    opset: Annotated[int, Field(ge=13, le=18)]
    # parity on the test split: the largest |ONNX - Keras| probability allowed
    max_abs_diff: Annotated[float, Field(gt=0.0, le=0.01)]


class RegistryConfig(_Section):
    """The gate of `stackseg register` (read from metrics/evaluate.json of the commit)."""

    artifact: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    min_test_iou: Fraction  # mean IoU over the classes
    min_class_iou: Fraction  # every class
    min_margin_over_baseline: Annotated[float, Field(ge=-1.0, le=1.0)]  # mean IoU - baseline's


class ObjectsConfig(_Section):
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


class ServeConfig(_Section):
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


class ReportConfig(_Section):
    """`stackseg report` verdicts and `stackseg noise` (docs/ci.md, "Beyond noise?")."""

    # runs at the base revision, seeds seed+1 .. seed+N, whose spread is the noise; at least
    # 2 (one run has no spread)
    noise_seeds: Annotated[int, Field(ge=2, le=20)]
    # the integer param the runs vary (`dvc exp run -S <param>=<s>`), dotted. `seed` also
    # draws the data split (prepare), so its spread includes other test sets: conservative
    noise_param: Annotated[
        str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    ]
    # a metric changed "beyond noise" when |PR - base| > noise_k x the seeds' standard
    # deviation; 3 is ~2.1 standard deviations of a difference of two runs (sqrt(2) sigma)
    noise_k: Annotated[float, Field(gt=0.0, le=10.0)]


class InferConfig(_Section):
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


class Config(_Section):
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)]
    classes: Annotated[list[str], Field(min_length=1, max_length=MAX_CLASSES)]
    paths: Paths
    synth: SynthConfig
    prepare: PrepareConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    export: ExportConfig
    registry: RegistryConfig
    infer: InferConfig
    report: ReportConfig
    objects: ObjectsConfig
    serve: ServeConfig

    @model_validator(mode="after")
    def _unique_classes(self) -> Config:
        problem = class_name_problem(self.classes)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _labels_classes(self) -> Config:
        prepare = self.prepare
        if prepare.mask_format != "labels":
            if prepare.labels_boundary:
                raise ValueError("prepare.labels_boundary needs prepare.mask_format labels")
            return self
        wanted = 2 if prepare.labels_boundary else 1
        if len(self.classes) != wanted:
            what = "the objects and their boundaries" if wanted == 2 else "the objects"
            raise ValueError(
                f"prepare.mask_format labels{' with labels_boundary' if wanted == 2 else ''} "
                f"needs {wanted} class name(s) ({what}), got {len(self.classes)}"
            )
        if self.objects.seeds == "boundary" and not prepare.labels_boundary:
            raise ValueError("objects.seeds boundary needs prepare.labels_boundary: true")
        return self
