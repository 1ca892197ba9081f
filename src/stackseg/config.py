"""One typed configuration, loaded from params.yaml and passed down to every stage.

Each stage reads its own section; an unknown key or a value of the wrong type is refused
with one line per problem naming the key and the expected type, so a typo in
`dvc exp run -S train.epocs=3` fails loudly instead of being silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stackseg.errors import ConfigError

PARAMS_FILE = "params.yaml"

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Section(BaseModel):
    # strict: "3" is not an int and 1 is not a bool; floats accept ints (YAML writes 1 for 1.0).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Paths(_Section):
    raw: str = "data/raw"
    prepared: str = "data/prepared"
    model: str = "models/model.keras"
    model_card: str = "models/model.json"
    train_live: str = "metrics/train"
    # resume checkpoints of an interrupted train (git- and dvc-ignored, never pushed)
    train_resume: str = ".stackseg/resume"
    evaluate_metrics: str = "metrics/evaluate.json"
    evaluate_plots: str = "plots/evaluate"


class SynthConfig(_Section):
    stacks: PositiveInt = 41
    frames: PositiveInt = 8
    height: Annotated[int, Field(ge=16)] = 96
    width: Annotated[int, Field(ge=16)] = 96
    channels: Literal[1, 3] = 1
    dtype: Literal["uint8", "uint16", "float32"] = "uint8"
    seed: Annotated[int, Field(ge=0)] = 0


class SplitFractions(_Section):
    train: Fraction = 0.7
    val: Fraction = 0.15
    test: Fraction = 0.15

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1.0, got {total:g}")
        return self


class PrepareConfig(_Section):
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 95
    mask_format: Literal["channels", "index"] = "channels"
    split_by: Literal["stack", "frame"] = "stack"
    split: SplitFractions = SplitFractions()
    workers: Annotated[int, Field(ge=0)] = 0
    # uint16/float images: per-stack percentile window mapped to 0..255 (see data/scaling.py)
    scale_low_percentile: Annotated[float, Field(ge=0.0, lt=100.0)] = 0.1
    scale_high_percentile: Annotated[float, Field(gt=0.0, le=100.0)] = 99.9

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> PrepareConfig:
        if self.scale_low_percentile >= self.scale_high_percentile:
            raise ValueError(
                "scale_low_percentile must be below scale_high_percentile, got "
                f"{self.scale_low_percentile:g} and {self.scale_high_percentile:g}"
            )
        return self


class AugmentConfig(_Section):
    flip: bool = True
    rot90: bool = True
    brightness: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    contrast: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1


class ReduceLRConfig(_Section):
    enabled: bool = False
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    patience: PositiveInt = 5


class TrainConfig(_Section):
    arch: Literal["unet", "sm_unet", "sm_fpn", "sm_linknet"] = "unet"
    backbone: str = "resnet34"
    encoder_weights: str | None = None
    depth: Annotated[int, Field(ge=1, le=6)] = 3
    base_filters: PositiveInt = 16
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    upsampling: Literal["transpose", "bilinear"] = "transpose"
    epochs: PositiveInt = 50
    batch_size: PositiveInt = 16
    learning_rate: Annotated[float, Field(gt=0.0)] = 0.002
    loss: Literal["bce", "bce_dice", "bce_jaccard", "focal", "focal_dice", "dice", "jaccard"] = (
        "bce"
    )
    image_size: Annotated[int, Field(ge=16)] = 48
    augment: AugmentConfig = AugmentConfig()
    patience: Annotated[int, Field(ge=0)] = 0
    reduce_lr: ReduceLRConfig = ReduceLRConfig()
    precision: Literal["float32", "mixed_bfloat16"] = "float32"
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5


class EvaluateConfig(_Section):
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    overlays: Annotated[int, Field(ge=0)] = 3
    batch_size: PositiveInt = 16


class Config(_Section):
    seed: int = 42
    classes: Annotated[list[str], Field(min_length=1, max_length=4)] = ["disc", "ring", "streak"]
    paths: Paths = Paths()
    synth: SynthConfig = SynthConfig()
    prepare: PrepareConfig = PrepareConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @model_validator(mode="after")
    def _unique_classes(self) -> Config:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"class names must be unique, got {self.classes}")
        return self


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "model_type": "a mapping",
    "dict_type": "a mapping",
}


def _describe(error: dict) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind in _TYPE_WORDS:
        value = error.get("input")
        return f"{key}: expected {_TYPE_WORDS[kind]}, got {type(value).__name__} {value!r}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key}: expected one of {expected}, got {error.get('input')!r}"
    return f"{key}: {error['msg']}"


def config_from_dict(data: dict, source: str = PARAMS_FILE) -> Config:
    """Validate a params mapping; raise ConfigError listing every bad key."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        problems = [f"{source}: {_describe(err)}" for err in exc.errors()]
        raise ConfigError(problems) from None


def load_config(path: str | Path = PARAMS_FILE) -> Config:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: not found (run from the project root or pass --params)"]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return config_from_dict(data, source=str(path))
