"""The trained model and its contract (models/model.keras + models/model.json), as every
consumer of a trained model loads it: the evaluate and export stages (and inference).

The card is read through `stackseg.contracts.read_card`, which checks its format and the
params' classes; what a consumer takes from it (size multiple, threshold) is typed there.
This module is neither training code (stackseg.models, stackseg.train: a change there
retrains the model) nor one stage's: a consumer depends on it without depending on another
consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackseg.config import Config
from stackseg.contracts import Manifest, ModelCard, read_card
from stackseg.errors import InputDataError


def load_trained(cfg: Config) -> tuple[Any, ModelCard]:
    """(keras model, model card), checked against the params' classes."""
    model_path = Path(cfg.paths.model)
    if not model_path.is_file():
        raise InputDataError([f"{model_path}: not found (run `dvc repro train` first)"])
    card = read_card(cfg.paths.model_card, cfg.classes)
    from stackseg.models import load_model

    model = load_model(model_path)
    outputs = model.outputs[0].shape[-1]
    if outputs != len(cfg.classes):
        raise InputDataError(
            [
                f"{model_path}: model has {outputs} output channels for {len(cfg.classes)} "
                "classes; rerun `dvc repro train`"
            ]
        )
    return model, card


def check_channels(model: Any, manifest: Manifest, cfg: Config) -> None:
    """The model must take the prepared images' channel count (1 gray or 3 RGB)."""
    expected = int(model.inputs[0].shape[-1])
    if expected != manifest.image_channels:
        raise InputDataError(
            [
                f"{cfg.paths.model}: model takes {expected}-channel images, "
                f"{cfg.paths.prepared} holds {manifest.image_channels}-channel ones; "
                "rerun `dvc repro train`"
            ]
        )


def preprocess_function() -> Callable:
    """The training pipeline's own uint8 -> model input function."""
    from stackseg.preprocessing import to_model_input

    return to_model_input
