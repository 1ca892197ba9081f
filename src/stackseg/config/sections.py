"""The typed sections of params.yaml: one pydantic model per section, no defaults.

Loaded and validated by `stackseg.config` (which re-exports every name here); each stage
reads its own section. Strict types: "3" is not an int and 1 is not a bool (floats accept
ints, as YAML writes 1 for 1.0); only paths are lax, since YAML has no path type.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from stackseg.classnames import class_name_problem
from stackseg.config.consumers import (
    DashboardConfig,
    DriftConfig,
    ExportConfig,
    InferConfig,
    ObjectsConfig,
    RegistryConfig,
    ReportConfig,
    ServeConfig,
    TrackingConfig,
)
from stackseg.config.types import MAX_IMAGE_SIZE, Fraction, LaxPath, PositiveInt, Section
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
# The global seed goes to numpy (keras.utils.set_random_seed), which takes 0..2**32-1 only.
MAX_SEED = 2**32 - 1


class Paths(Section):
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
    # the drift stage: the training split's reference profile (travels with the model), and
    # the test split's drift scores and plots
    drift_reference: LaxPath
    drift_metrics: LaxPath
    drift_plots: LaxPath


class SynthConfig(Section):
    stacks: PositiveInt
    frames: PositiveInt
    height: Annotated[int, Field(ge=16)]
    width: Annotated[int, Field(ge=16)]
    channels: Literal[1, 3]
    dtype: Literal["uint8", "uint16", "float32"]
    seed: Annotated[int, Field(ge=0)]


class SplitFractions(Section):
    train: Fraction
    val: Fraction
    test: Fraction

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1.0, got {total:g}")
        return self


class PrepareConfig(Section):
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
    # uint16/float images -> 0..255 (prepare/scaling.py): stack: each stack's own percentile
    # window | training: one window, the percentiles over all training stacks (manifest, model
    # card) | fixed: scale_window. infer and serve apply the model's rule to new data
    scaling: Literal["stack", "training", "fixed"]
    # fixed: [low, high] in the images' units (null otherwise)
    scale_window: Annotated[list[float], Field(min_length=2, max_length=2)] | None
    scale_low_percentile: Annotated[float, Field(ge=0.0, lt=100.0)]
    scale_high_percentile: Annotated[float, Field(gt=0.0, le=100.0)]

    @model_validator(mode="after")
    def _window_when_fixed(self) -> PrepareConfig:
        window = self.scale_window
        if self.scaling == "fixed" and window is None:
            raise ValueError("prepare.scaling fixed needs prepare.scale_window: [low, high]")
        if window is not None and not window[0] < window[1]:
            raise ValueError(
                f"prepare.scale_window must be [low, high] with low < high, got {window}"
            )
        return self

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> PrepareConfig:
        if self.scale_low_percentile >= self.scale_high_percentile:
            raise ValueError(
                "scale_low_percentile must be below scale_high_percentile, got "
                f"{self.scale_low_percentile:g} and {self.scale_high_percentile:g}"
            )
        return self


class AugmentConfig(Section):
    flip: bool
    rot90: bool
    brightness: Annotated[float, Field(ge=0.0, le=1.0)]
    contrast: Annotated[float, Field(ge=0.0, le=1.0)]


class ReduceLRConfig(Section):
    enabled: bool
    factor: Annotated[float, Field(gt=0.0, lt=1.0)]
    patience: PositiveInt


class TrainConfig(Section):
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
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"]
    # probability -> mask: one number for every class (training metrics, the model card,
    # evaluate, infer, serve), or auto: per class, the one that maximises threshold_metric on
    # the val split, chosen after training and recorded in the model card
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] | Literal["auto"]
    threshold_metric: Literal["f1", "iou"]
    # the training seed: initial weights, augmentation, batch order, dropout. The top-level
    # `seed` draws the data split (prepare), so varying this one varies training alone
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)]
    # portable: oneDNN capped at AVX2 and `threads` intra-op threads, set before TensorFlow
    # starts: the same weights on any x86-64 machine with AVX2 | fast: the CPU's best
    # instruction set and every usable core, bit-identical only on the same CPU type and
    # core count (docs/reproducibility.md)
    reproducibility: Literal["portable", "fast"]
    threads: PositiveInt  # portable: the fixed intra-op thread count (fast: every core)

    @property
    def training_threshold(self) -> float:
        """The threshold of the training metrics: `threshold`, or 0.5 while auto is unknown."""
        return 0.5 if self.threshold == "auto" else self.threshold

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


class BootstrapConfig(Section):
    """The 95% intervals of the test IoUs (evaluate/uncertainty.py)."""

    resamples: Annotated[int, Field(ge=100, le=100_000)]
    # resample stacks when the test split has at least this many, frames otherwise
    min_stacks: Annotated[int, Field(ge=2)]


class EvaluateConfig(Section):
    overlays: Annotated[int, Field(ge=0)]
    batch_size: PositiveInt
    bootstrap: BootstrapConfig


class Config(Section):
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
    drift: DriftConfig
    tracking: TrackingConfig
    dashboard: DashboardConfig

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
