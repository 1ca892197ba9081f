"""The original U-Net: Conv-BN-ReLU encoder blocks, a bottleneck and a mirrored decoder.

Spatial dimensions are left open (None) so one model trains on square crops and predicts
whole frames of any size divisible by 2**depth. Every layer is named, so the saved config
(and with it the bytes of models/model.keras) does not depend on how many models the
process built before.
"""

from __future__ import annotations

import keras
from keras import layers


def _conv_block(x, filters: int, name: str):
    """Two 3x3 Conv-BN-ReLU; the convs have no bias because batch norm adds one."""
    for i in (1, 2):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"{name}_conv{i}",
        )(x)
        # momentum 0.9: the moving statistics settle within an epoch of a small dataset, so
        # the val IoU that picks the best epoch reflects the current weights
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def _upsample(x, filters: int, mode: str, name: str):
    if mode == "transpose":
        return layers.Conv2DTranspose(
            filters, 2, strides=2, padding="same", kernel_initializer="he_normal", name=name
        )(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_bilinear")(x)
    return layers.Conv2D(
        filters, 3, padding="same", kernel_initializer="he_normal", name=f"{name}_conv"
    )(x)


def build_unet(
    n_classes: int,
    in_channels: int,
    depth: int = 3,
    base_filters: int = 16,
    dropout: float = 0.1,
    upsampling: str = "transpose",
) -> keras.Model:
    """U-Net with `depth` poolings, `base_filters * 2**level` filters per level.

    The output is a K-channel sigmoid (one independent probability per class) computed in
    float32 even under a mixed-precision policy.
    """
    if upsampling not in ("transpose", "bilinear"):
        raise ValueError(f"upsampling must be 'transpose' or 'bilinear', got {upsampling!r}")
    inputs = keras.Input((None, None, in_channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        name = f"enc{level + 1}"
        x = _conv_block(x, base_filters * 2**level, name)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = _conv_block(x, base_filters * 2**depth, "bottleneck")
    for level in reversed(range(depth)):
        name = f"dec{level + 1}"
        filters = base_filters * 2**level
        x = _upsample(x, filters, upsampling, f"{name}_up")
        x = layers.Concatenate(name=f"{name}_skip")([x, skips[level]])
        if dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
        x = _conv_block(x, filters, name)
    logits = layers.Conv2D(n_classes, 1, name="logits")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="unet")
