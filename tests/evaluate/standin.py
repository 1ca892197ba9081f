"""A hand-made prepared split and a numpy stand-in model whose scores are known exactly.

Class "disc" is exactly the pixels >= 128 of the decoded jpg (the stand-in model predicts
probability = intensity / 255, so it is perfect on disc); class "ring" is a rectangle in
some frames that the model never predicts. The manifest is built through
`stackseg.contracts` (tests/fixtures.py), so it has the shape prepare writes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from stackseg.contracts import mask_png_channels
from tests.fixtures import make_pair, write_prepared_manifest

CLASSES = ["disc", "ring"]
THRESHOLD = 0.5
MULTIPLE = 8
# (split, stack, frame, height, width, has_ring)
FRAMES = [
    ("test", "a", 0, 24, 40, True),
    ("test", "a", 1, 24, 40, False),
    ("test", "b", 0, 17, 29, True),
    ("test", "b", 1, 17, 29, False),
    ("train", "c", 0, 24, 40, True),
    ("train", "c", 1, 24, 40, False),
]


def write_prepared(root: Path, frames=FRAMES) -> Path:
    rng = np.random.default_rng(0)
    pairs = []
    for split, stack, frame, height, width, has_ring in frames:
        mask = np.zeros((height, width, mask_png_channels(len(CLASSES))), np.uint8)
        image = rng.integers(0, 256, (height, width), dtype=np.uint8)
        pair = make_pair(stack, frame, split, height, width, [0.0] * len(CLASSES))
        for rel in (pair.image, pair.mask):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / pair.image), image)
        decoded = cv2.imread(str(root / pair.image), cv2.IMREAD_GRAYSCALE)
        assert decoded is not None
        mask[..., 0] = np.where(decoded >= 128, 255, 0)
        if has_ring:
            mask[3:9, 5:15, 1] = 255
        Image.fromarray(mask, "RGB").save(root / pair.mask)
        fractions = (mask[..., : len(CLASSES)] > 0).mean(axis=(0, 1)).tolist()
        pairs.append(make_pair(stack, frame, split, height, width, fractions))
    write_prepared_manifest(root, CLASSES, 1, pairs)
    return root


class IntensityModel:
    """Channel 0 = the input intensity, channel 1 = 0: perfect on disc, blind to ring."""

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([batch[..., :1], np.zeros_like(batch[..., :1])], axis=-1)


def scale(batch: np.ndarray) -> np.ndarray:
    return batch.astype(np.float32) / 255.0
