"""Small prepared-data trees in the prepare stage's output contract, for train tests,
and a tiny `stackseg train` on one.

Frames hold filled squares (class 0), hollow squares (class 1) and horizontal bars
(class 2) drawn brighter than a noisy background, so a tiny model can learn something.
The manifest is built through `stackseg.contracts` (tests/fixtures.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from stackseg.contracts import mask_png_channels
from tests.conftest import BIN, tiny_params
from tests.fixtures import make_pair, write_prepared_manifest


def _frame(rng: np.random.Generator, height: int, width: int, n_classes: int):
    masks = np.zeros((height, width, n_classes), np.uint8)
    for k in range(n_classes):
        size = int(rng.integers(4, max(5, min(height, width) // 3)))
        top = int(rng.integers(0, height - size))
        left = int(rng.integers(0, width - size))
        if k % 3 == 0:
            masks[top : top + size, left : left + size, k] = 1
        elif k % 3 == 1:
            masks[top : top + size, left : left + size, k] = 1
            masks[top + 1 : top + size - 1, left + 1 : left + size - 1, k] = 0
        else:
            masks[top : top + 2, left : left + size, k] = 1
    gray = 40 + 150 * masks.max(axis=-1) + rng.normal(0, 10, (height, width))
    return np.clip(gray, 0, 255).astype(np.uint8), masks * 255


def _save_mask(masks: np.ndarray, path: Path) -> None:
    k = masks.shape[-1]
    channels = mask_png_channels(k)
    out = np.zeros(masks.shape[:2] + (channels,), np.uint8)
    out[..., :k] = masks
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    Image.fromarray(out[..., 0] if channels == 1 else out, mode).save(path)


def write_prepared(
    root: Path,
    classes: Sequence[str] = ("disc", "ring", "streak"),
    image_channels: int = 1,
    frames: dict[str, list[tuple[str, int, int]]] | None = None,
    seed: int = 0,
) -> Path:
    """data/prepared-like tree. frames: split -> [(stack, height, width) per stack], 2 frames each."""
    classes = list(classes)
    frames = frames or {
        "train": [("s00", 32, 40), ("s01", 32, 40), ("s02", 28, 24)],
        "val": [("s03", 32, 40)],
        "test": [("s04", 32, 40)],
    }
    rng = np.random.default_rng(seed)
    pairs = []
    for split, split_stacks in frames.items():
        for stack, height, width in split_stacks:
            for frame in range(2):
                gray, masks = _frame(rng, height, width, len(classes))
                image = gray if image_channels == 1 else np.stack([gray] * 3, axis=-1)
                fraction = (masks > 0).mean(axis=(0, 1)).tolist()
                pair = make_pair(stack, frame, split, height, width, fraction)
                for path in (root / pair.image, root / pair.mask):
                    path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(root / pair.image, quality=95)
                _save_mask(masks, root / pair.mask)
                pairs.append(pair)
    write_prepared_manifest(root, classes, image_channels, pairs)
    return root


def start_tiny_train(
    root: Path, mode: str, env: dict[str, str], cores: set[int] | None = None
) -> subprocess.Popen:
    """`stackseg train` (the tiny profile, 1 epoch, `mode` reproducibility, 2 threads) on a
    new prepared tree under root, started in the background with `env` (the caller's
    environment, edited) and, if given, only `cores`; stderr is piped for the failure."""
    root.mkdir(parents=True)
    write_prepared(root / "data" / "prepared")
    params = tiny_params(train={"epochs": 1, "reproducibility": mode, "threads": 2})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return subprocess.Popen(
        ["stackseg", "train"],
        cwd=root,
        env={**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=None if cores is None else lambda: os.sched_setaffinity(0, cores),
    )
