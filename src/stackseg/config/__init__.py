"""One typed configuration, loaded from params.yaml and passed down to every stage.

params.yaml holds every value: no field has a default here, so what DVC tracks (and
`dvc params diff` shows) is all there is. A profile (profiles/*.yaml) is a partial mapping
merged over params.yaml (`merge(load_params(), load_profile(path))`), validated like it.
Each stage reads its own section; an unknown key, a missing key or a value of the wrong
type is refused with one line per problem naming the key, so a typo in
`dvc exp run -S +train.epocs=3` fails loudly instead of being silently ignored.

The sections themselves (one pydantic model each) are in `stackseg.config.sections` (data and
training) and `stackseg.config.consumers` (what consumes a model); every name there is
importable from here too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from stackseg.config.consumers import (
    DashboardConfig,
    DriftConfig,
    ExportConfig,
    InferConfig,
    MlflowConfig,
    ObjectsConfig,
    RegistryConfig,
    ReportConfig,
    ServeConfig,
    TrackingConfig,
)
from stackseg.config.sections import (
    ARCHITECTURES,
    LOSSES,
    MAX_IMAGE_SIZE,
    MAX_SEED,
    SM_SIZE_MULTIPLE,
    ArchName,
    AugmentConfig,
    BootstrapConfig,
    Config,
    EvaluateConfig,
    LossName,
    Paths,
    PrepareConfig,
    ReduceLRConfig,
    SplitFractions,
    SynthConfig,
    TrainConfig,
    input_multiple,
)
from stackseg.errors import ConfigError

__all__ = [
    "ARCHITECTURES",
    "LOSSES",
    "MAX_IMAGE_SIZE",
    "MAX_SEED",
    "SM_SIZE_MULTIPLE",
    "ArchName",
    "LossName",
    "AugmentConfig",
    "BootstrapConfig",
    "Config",
    "DashboardConfig",
    "DriftConfig",
    "MlflowConfig",
    "TrackingConfig",
    "EvaluateConfig",
    "ExportConfig",
    "InferConfig",
    "ReportConfig",
    "ObjectsConfig",
    "Paths",
    "PrepareConfig",
    "ReduceLRConfig",
    "RegistryConfig",
    "ServeConfig",
    "SplitFractions",
    "SynthConfig",
    "TrainConfig",
    "input_multiple",
]
__all__ += ["FULL_PROFILE", "PARAMS_FILE", "config_from_dict", "load_config", "load_params"]
__all__ += ["load_profile", "merge"]

PARAMS_FILE = "params.yaml"
# The full-scale profile, relative to the project root (the directory of params.yaml): used by
# `stackseg synth --full` and by `dvc exp run $(stackseg overrides profiles/full.yaml)`.
FULL_PROFILE = Path("profiles/full.yaml")

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
