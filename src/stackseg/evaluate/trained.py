"""The trained model and its preprocessing contract (models/model.keras + models/model.json)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackseg.config import Config
from stackseg.documents import read_json
from stackseg.errors import InputDataError


def read_card(path: Path) -> dict:
    return read_json(
        path, missing="run `dvc repro train` first", invalid="rerun `dvc repro -f train`"
    )


def load_trained(cfg: Config) -> tuple[Any, dict]:
    """(keras model, model card), checked against the params' classes."""
    model_path, card_path = Path(cfg.paths.model), Path(cfg.paths.model_card)
    if not model_path.is_file():
        raise InputDataError([f"{model_path}: not found (run `dvc repro train` first)"])
    card = read_card(card_path)
    card_classes = card.get("classes")
    if card_classes is not None and list(card_classes) != list(cfg.classes):
        raise InputDataError(
            [
                f"{card_path}: model trained for classes {card_classes}, params say {cfg.classes}; rerun `dvc repro train`"
            ]
        )
    from stackseg.models import load_model

    model = load_model(model_path)
    outputs = model.outputs[0].shape[-1]
    if outputs != len(cfg.classes):
        raise InputDataError(
            [
                f"{model_path}: model has {outputs} output channels for {len(cfg.classes)} classes; rerun `dvc repro train`"
            ]
        )
    return model, card


def check_channels(model: Any, manifest: dict, cfg: Config) -> None:
    """The model must take the prepared images' channel count (1 gray or 3 RGB)."""
    expected = int(model.inputs[0].shape[-1])
    prepared = int(manifest["image_channels"])
    if expected != prepared:
        raise InputDataError(
            [
                f"{cfg.paths.model}: model takes {expected}-channel images, "
                f"{cfg.paths.prepared} holds {prepared}-channel ones; rerun `dvc repro train`"
            ]
        )


def size_multiple(card: dict, cfg: Config) -> int:
    """What height and width must be divisible by for this model.

    The model card's own value wins (the model is what it was trained as); without one, the
    architecture in params decides (the pipeline retrains whenever those change).
    """
    recorded = (
        card.get("input", {}).get("size_multiple") if isinstance(card.get("input"), dict) else None
    )
    if isinstance(recorded, int) and recorded > 0:
        return recorded
    from stackseg.models import size_multiple as for_architecture

    return for_architecture(cfg.train)


def preprocess_function() -> Callable:
    """The training pipeline's own uint8 -> model input function."""
    from stackseg.models import to_model_input

    return to_model_input
