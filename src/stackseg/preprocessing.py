"""The model's input contract: prepared 8-bit images scaled to [0, 1] float32.

Training (tf.data) and every inference entry point must use these, so a model sees the same
values at prediction time as in training. The contract is also written to models/model.json.
"""

from __future__ import annotations

import numpy as np

INPUT_SCALE = 1.0 / 255.0
INPUT_RULE = "float32(uint8 pixel) / 255, channels as prepared (1 gray or 3 RGB)"


def to_model_input(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) or (H, W, C) uint8 prepared images -> float32 model input in [0, 1]."""
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 prepared images, got {images.dtype}")
    return images.astype(np.float32) * np.float32(INPUT_SCALE)
