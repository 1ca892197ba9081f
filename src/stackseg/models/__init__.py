"""Segmentation models: the original U-Net and segmentation-models architectures.

Importing this package registers the custom objects a saved stackseg model may use, so
`keras.models.load_model("models/model.keras", compile=False)` works after
`import stackseg.models` (or use `load_model` below).
"""

from __future__ import annotations

from pathlib import Path

import keras

from stackseg.config import TrainConfig
from stackseg.models import custom_objects
from stackseg.models.saving import save_model
from stackseg.preprocessing import INPUT_RULE, to_model_input

custom_objects.register()

__all__ = [
    "INPUT_RULE",
    "build_model",
    "load_model",
    "save_model",
    "size_multiple",
    "to_model_input",
]


def size_multiple(train_cfg: TrainConfig) -> int:
    """What input height and width must be divisible by for this architecture."""
    if train_cfg.arch == "unet":
        return 2**train_cfg.depth
    from stackseg.models.sm_factory import SIZE_MULTIPLE

    return SIZE_MULTIPLE


def build_model(train_cfg: TrainConfig, n_classes: int, in_channels: int) -> keras.Model:
    """The architecture named by train.arch: input (None, None, C), K-channel sigmoid output."""
    if train_cfg.arch == "unet":
        from stackseg.models.unet import build_unet

        return build_unet(
            n_classes,
            in_channels,
            depth=train_cfg.depth,
            base_filters=train_cfg.base_filters,
            dropout=train_cfg.dropout,
            upsampling=train_cfg.upsampling,
        )
    from stackseg.models.sm_factory import build_sm_model

    return build_sm_model(
        train_cfg.arch,
        train_cfg.backbone,
        n_classes,
        in_channels,
        encoder_weights=train_cfg.encoder_weights,
    )


def load_model(path: str | Path) -> keras.Model:
    """A saved stackseg model, for inference (not compiled)."""
    return keras.models.load_model(str(path), compile=False)
