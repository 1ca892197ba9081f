"""segmentation-models architectures (Unet, FPN, Linknet) on its classification backbones.

segmentation-models 1.0.1 picks its Keras flavour from SM_FRAMEWORK at import time, so the
variable is set here, right before the (lazy) import. Encoder weights:
- None: random initialisation (default; nothing is downloaded);
- "imagenet": segmentation-models downloads them (needs internet) into ~/.keras/models;
- a path: a weights file of the same backbone built for 3-channel input (the offline copy of
  what "imagenet" would download, or `encoder.save_weights(...)` of your own encoder),
  Keras `.weights.h5` or legacy `.h5`; it is loaded here with no network access.
Pretrained encoders expect RGB: a grayscale model then repeats its one input channel three
times in front of the encoder, so the model still takes the prepared images as they are.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import keras
from keras import layers

from stackseg.errors import ConfigError

log = logging.getLogger(__name__)

# the segmentation-models class of each sm_* name of config.ARCHITECTURES (train.arch);
# tests/test_config.py checks that the two list the same names
ARCHITECTURES = {"sm_unet": "Unet", "sm_fpn": "FPN", "sm_linknet": "Linknet"}
# Every segmentation-models encoder downsamples five times.
SIZE_MULTIPLE = 32


def import_sm() -> Any:
    os.environ["SM_FRAMEWORK"] = "tf.keras"
    import segmentation_models as sm

    return sm


def _submodules(sm: Any) -> dict:
    # what segmentation-models injects into its backbone builders (tf.keras flavour)
    return {
        "backend": sm._KERAS_BACKEND,
        "layers": sm._KERAS_LAYERS,
        "models": sm._KERAS_MODELS,
        "utils": sm._KERAS_UTILS,
    }


def build_encoder(backbone: str, channels: int = 3) -> keras.Model:
    """The bare encoder (no top) of `backbone`, randomly initialised."""
    sm = import_sm()
    return sm.Backbones.get_backbone(
        backbone,
        input_shape=(None, None, channels),
        weights=None,
        include_top=False,
        **_submodules(sm),
    )


def load_encoder_weights(model: keras.Model, backbone: str, path: str | Path) -> int:
    """Copy encoder weights from a local file into `model`'s encoder layers (matched by name).

    Returns the number of layers copied. Raises ConfigError when the file is missing or does
    not hold weights of this backbone.
    """
    path = Path(path)
    key = "train.encoder_weights"
    if not path.is_file():
        raise ConfigError(
            [f"{key}: {path}: file not found (use null, imagenet or a path to a weights file)"]
        )
    encoder = build_encoder(backbone, channels=3)
    try:
        encoder.load_weights(str(path))
    except Exception as exc:  # Keras raises ValueError, OSError or KeyError depending on the file
        raise ConfigError(
            [f"{key}: {path}: not a {backbone} encoder weights file for 3-channel input ({exc})"]
        ) from None
    targets = {layer.name: layer for layer in model.layers}
    copied = 0
    for layer in encoder.layers:
        if not layer.weights:
            continue
        target = targets.get(layer.name)
        source_shapes = [tuple(w.shape) for w in layer.weights]
        if target is None or [tuple(w.shape) for w in target.weights] != source_shapes:
            raise ConfigError(
                [f"{key}: {path}: layer {layer.name!r} does not match the {backbone} encoder"]
            )
        target.set_weights(layer.get_weights())
        copied += 1
    log.info("loaded %d encoder layers of %s from %s", copied, backbone, path)
    return copied


def build_sm_model(
    arch: str,
    backbone: str,
    n_classes: int,
    in_channels: int,
    encoder_weights: str | None = None,
) -> keras.Model:
    sm = import_sm()
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown segmentation-models architecture {arch!r}")
    if backbone not in sm.Backbones.models_names():
        raise ConfigError(
            [
                f"train.backbone: unknown backbone {backbone!r}; one of "
                + ", ".join(sorted(sm.Backbones.models_names()))
            ]
        )
    encoder_channels = 3 if encoder_weights is not None else in_channels
    builder = getattr(sm, ARCHITECTURES[arch])
    # linear head: the sigmoid is applied below in float32 (mixed precision safe)
    base = builder(
        backbone,
        input_shape=(None, None, encoder_channels),
        classes=n_classes,
        activation="linear",
        encoder_weights="imagenet" if encoder_weights == "imagenet" else None,
    )
    if encoder_weights not in (None, "imagenet"):
        load_encoder_weights(base, backbone, encoder_weights)
    inputs = keras.Input((None, None, in_channels), name="image")
    x = inputs
    if encoder_channels != in_channels:
        x = layers.Concatenate(name="gray_to_rgb")([x] * encoder_channels)
    logits = base(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=arch)
