"""One typed configuration, loaded from params.yaml and passed down to every stage.

params.yaml holds every value: no field has a default here, so what DVC tracks (and
`dvc params diff` shows) is all there is. A profile (profiles/*.yaml) is a partial mapping
merged over params.yaml (`merge(load_params(), load_profile(path))`), validated like it.
Each stage reads its own section; an unknown key, a missing key or a value of the wrong
type is refused with one line per problem naming the key, so a typo in
`dvc exp run -S +train.epocs=3` fails loudly instead of being silently ignored.

The allowed names of `train.loss` and `train.arch` are defined once, here (`LOSSES`,
`ARCHITECTURES`), where the config can check them without importing TensorFlow:
train/losses.py builds its registry from LOSSES, and tests/test_config.py checks that
models/sm_factory.py maps exactly the sm_* names of ARCHITECTURES.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from stackseg.classnames import class_name_problem
from stackseg.contracts import MAX_CLASSES
from stackseg.errors import ConfigError

PARAMS_FILE = "params.yaml"
# The full-scale profile, relative to the project root (the directory of params.yaml): used by
# `stackseg synth --full` and by `dvc exp run $(stackseg overrides profiles/full.yaml)`.
FULL_PROFILE = Path("profiles/full.yaml")

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
    mask_format: Literal["channels", "index"]
    split_by: Literal["stack", "frame"]
    split: SplitFractions
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


class EvaluateConfig(_Section):
    overlays: Annotated[int, Field(ge=0)]
    batch_size: PositiveInt


class Config(_Section):
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)]
    classes: Annotated[list[str], Field(min_length=1, max_length=MAX_CLASSES)]
    paths: Paths
    synth: SynthConfig
    prepare: PrepareConfig
    train: TrainConfig
    evaluate: EvaluateConfig

    @model_validator(mode="after")
    def _unique_classes(self) -> Config:
        problem = class_name_problem(self.classes)
        if problem:
            raise ValueError(problem)
        return self


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "path_type": "a path (a string)",
    "list_type": "a list",
    "model_type": "a mapping",
    "dict_type": "a mapping",
}


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind == "missing":
        return f"{key}: missing"
    if kind in _TYPE_WORDS:
        value = error.get("input")
        return f"{key}: expected {_TYPE_WORDS[kind]}, got {type(value).__name__} {value!r}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key}: expected one of {expected}, got {error.get('input')!r}"
    return f"{key}: {error['msg']}"


def _dvc_removed_outputs(source: str) -> str | None:
    """The hint for an unknown key met inside a DVC stage, or None outside one.

    `dvc exp run -S +train.epocs=3` adds the key to params.yaml and deletes the stage's
    outputs before running its command, so refusing the key leaves the workspace without
    them; DVC sets DVC_STAGE for every stage command it runs.
    """
    stage = os.environ.get("DVC_STAGE")
    if not stage:
        return None
    return (
        f"{source}: DVC removed the outputs of stage {stage!r} before running it: remove the "
        "unknown key, then `dvc checkout` restores the cached ones and `git checkout HEAD -- "
        "models metrics plots` those kept in git (cache: false)"
    )


def config_from_dict(data: dict[str, Any] | None, source: str = PARAMS_FILE) -> Config:
    """Validate a params mapping; raise ConfigError listing every bad key."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        errors = exc.errors()
        problems = [f"{source}: {_describe(err)}" for err in errors]
        hint = _dvc_removed_outputs(source)
        if hint and any(err["type"] == "extra_forbidden" for err in errors):
            problems.append(hint)
        raise ConfigError(problems) from None


def _read_mapping(path: Path, missing: str, empty_ok: bool) -> dict[str, Any]:
    """The YAML mapping in `path` ({} if empty and `empty_ok`); one ConfigError line if not."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: not found ({missing})"]) from None
    except UnicodeDecodeError as exc:
        where = f"byte {exc.object[exc.start]:#04x} at offset {exc.start}"
        raise ConfigError([f"{path}: not UTF-8 text ({where}): save it as UTF-8"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if data is None and empty_ok:
        return {}
    if data is None:  # no defaults to fall back on: every value lives in the file
        raise ConfigError(
            [
                f"{path}: empty: every parameter is set there, none has a default (copy the project's params.yaml)"
            ]
        )
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return data


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml as a plain mapping, not validated (see load_config)."""
    return _read_mapping(Path(path), "run from the project root or pass --params", False)


def load_config(path: str | Path = PARAMS_FILE) -> Config:
    return config_from_dict(load_params(path), source=str(path))


def load_profile(path: str | Path) -> dict[str, Any]:
    """A profile: a partial params mapping to merge over params.yaml (see `merge`)."""
    return _read_mapping(Path(path), "profiles live in profiles/ of the project root", True)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` merged in, section by section; neither is modified.

    A mapping merges into a mapping key by key; any other value (a list too) replaces.
    """
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
