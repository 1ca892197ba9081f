"""Helpers for the prepare tests: tiny raw stacks, a params file, and running the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tifffile
import yaml

from stackseg import cli
from tests.conftest import tiny_params

CLASSES = ["disc", "ring", "streak"]


def image_frames(
    rng: np.random.Generator, frames: int, height: int, width: int, channels: int = 1
) -> np.ndarray:
    shape = (frames, height, width) + ((channels,) if channels > 1 else ())
    return rng.integers(0, 256, shape, dtype=np.uint8)


def mask_frames(
    rng: np.random.Generator, frames: int, height: int, width: int, classes: int = 3
) -> np.ndarray:
    """(F, H, W, K) binary 0/1 per class."""
    return (rng.random((frames, height, width, classes)) < 0.3).astype(np.uint8)


def write_image(path: Path, data: np.ndarray, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = data.ndim == 4 and data.shape[-1] == 3
    kwargs.setdefault("photometric", "rgb" if rgb else "minisblack")
    tifffile.imwrite(path, data, **kwargs)


def write_mask(path: Path, data: np.ndarray, **kwargs) -> None:
    """Channel-last masks as contiguous extra samples (RGB for 3 classes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data.ndim == 4:
        kwargs.setdefault("photometric", "rgb" if data.shape[-1] == 3 else "minisblack")
        kwargs.setdefault("planarconfig", "contig")
    else:
        kwargs.setdefault("photometric", "minisblack")
    tifffile.imwrite(path, data, **kwargs)


def write_pair(raw: Path, name: str, image: np.ndarray, mask: np.ndarray) -> None:
    write_image(raw / "images" / f"{name}.tif", image)
    write_mask(raw / "masks" / f"{name}.tif", mask)


def make_raw(
    root: Path, stacks: int = 4, frames: int = 3, height: int = 24, width: int = 32, seed: int = 0
) -> Path:
    """root/data/raw with `stacks` random uint8 gray stacks and 3-class binary masks."""
    raw = root / "data" / "raw"
    rng = np.random.default_rng(seed)
    for index in range(stacks):
        write_pair(
            raw,
            f"s{index}",
            image_frames(rng, frames, height, width),
            mask_frames(rng, frames, height, width),
        )
    return raw


def write_params(root: Path, prepared: str = "data/prepared", classes=CLASSES, **prepare) -> Path:
    """params.yaml for the project in `root` (tiny profile, one worker unless overridden)."""
    params = tiny_params()
    params["classes"] = list(classes)
    params["paths"]["prepared"] = prepared
    params["prepare"] = {**params["prepare"], "workers": 1, **prepare}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_prepare(root: Path, capsys, params: str = "params.yaml") -> tuple[int, str]:
    """`stackseg prepare` through the CLI entry point, in `root`; (exit code, stderr)."""
    before = Path.cwd()
    os.chdir(root)
    try:
        code = cli.main(["prepare", "--params", params])
    finally:
        os.chdir(before)
    return code, capsys.readouterr().err


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes)."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def inodes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): path.stat().st_ino
        for path in root.rglob("*")
        if path.is_file()
    }
