"""What the prepare stage reads from the config, and the codec settings that make the bytes.

Plain values only: the settings are passed down to the jobs and pickled for the worker
processes, which never load the config (nor pydantic) themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the type: the workers import this module and stay light
    from stackseg.config import Config
    from stackseg.contracts import ScalingName

# Codec settings (see pairs.py); part of the manifest and of its fingerprint.
JPEG_SUBSAMPLING = "444"
PNG_LEVEL = 1
PNG_STRATEGY_RLE = 3
PNG_FILTER_SUB = 16


@dataclass(frozen=True)
class PrepareSettings:
    """The stage's part of the config (paths, classes, seed and the `prepare:` section)."""

    raw: Path
    prepared: Path
    classes: tuple[str, ...]
    seed: int
    jpeg_quality: int
    mask_format: str
    split_by: str
    fractions: dict[str, float]
    min_split_stacks: int
    min_split_pairs: int
    low_percentile: float
    high_percentile: float
    workers: int
    # prepare.scaling (stack | training | fixed) and, for fixed, prepare.scale_window
    scaling: ScalingName = "stack"
    scale_window: tuple[float, float] | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> PrepareSettings:
        section = cfg.prepare
        return cls(
            raw=Path(cfg.paths.raw),
            prepared=Path(cfg.paths.prepared),
            classes=tuple(cfg.classes),
            seed=cfg.seed,
            jpeg_quality=section.jpeg_quality,
            mask_format=section.mask_format,
            split_by=section.split_by,
            fractions=section.split.model_dump(),
            min_split_stacks=section.min_split_stacks,
            min_split_pairs=section.min_split_pairs,
            low_percentile=section.scale_low_percentile,
            high_percentile=section.scale_high_percentile,
            workers=section.workers,
            scaling=section.scaling,
            scale_window=None if section.scale_window is None else _pair(section.scale_window),
        )

    def content_params(self) -> dict:
        """The params that decide a pair's bytes (the split only decides its folder)."""
        return {
            "classes": list(self.classes),
            "mask_format": self.mask_format,
            "scale_percentiles": [self.low_percentile, self.high_percentile],
            # training: the window itself depends on the data; jobs.py compares it per stack
            "scaling": self.scaling,
            "scale_window": None if self.scale_window is None else list(self.scale_window),
            "codecs": codec_description(self.jpeg_quality),
        }


def _pair(values: list[float]) -> tuple[float, float]:
    low, high = values  # the config checked: two values, low < high
    return low, high


def codec_description(jpeg_quality: int) -> dict:
    """What produced the bytes (recorded in the manifest and part of its fingerprint)."""
    return {
        "jpeg": {
            "encoder": f"simplejpeg {version('simplejpeg')}",
            "quality": jpeg_quality,
            "subsampling": "4:4:4",
        },
        "png": {
            "encoder": f"imagecodecs {version('imagecodecs')}",
            "zlib_level": PNG_LEVEL,
            "strategy": "rle",
            "filter": "sub",
        },
    }
