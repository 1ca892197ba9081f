"""Custom Keras objects a saved stackseg model may reference, registered on import.

The EfficientNet encoders of segmentation-models save two objects Keras does not know:
the `swish` activation and the `FixedDropout` layer. Registering light equivalents here
lets `keras.models.load_model(path, compile=False)` open any stackseg model after
`import stackseg.models`, without importing segmentation-models (slow) at inference time.
Both are exact: swish(x) = x * sigmoid(x) = silu(x), and Keras 3's Dropout already
resolves a noise shape with None entries the way FixedDropout did for Keras 2.
"""

from __future__ import annotations

import keras


def swish(x):
    return keras.activations.silu(x)


class FixedDropout(keras.layers.Dropout):
    """EfficientNet's per-sample (drop-connect) dropout, noise_shape (None, 1, 1, 1)."""


CUSTOM_OBJECTS = {"swish": swish, "FixedDropout": FixedDropout}


def register() -> None:
    objects = keras.saving.get_custom_objects()
    for name, obj in CUSTOM_OBJECTS.items():
        # keep the real classes if segmentation-models registered them first (training)
        objects.setdefault(name, obj)
