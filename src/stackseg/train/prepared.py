"""The prepared pairs as training sees them: the manifest, per-split file lists, data hashes.

The manifest is read and checked through `stackseg.contracts` (format version, fields,
class names); on top of that, training checks that every listed file exists and that the
train and val splits are not empty, so a stale or partial prepare fails with one line per
problem before TensorFlow starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stackseg.contracts import MANIFEST_NAME, SPLITS, Manifest, read_manifest
from stackseg.errors import ConfigError, InputDataError

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class PairList:
    """Pairs of one split in manifest order (sorted by stack, frame); paths are full paths."""

    images: tuple[str, ...]
    masks: tuple[str, ...]
    heights: tuple[int, ...]
    widths: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.images)

    def pixels(self) -> int:
        return sum(h * w for h, w in zip(self.heights, self.widths, strict=True))


@dataclass(frozen=True)
class PreparedData:
    root: Path
    manifest: Manifest
    splits: dict[str, PairList]

    @property
    def image_channels(self) -> Literal[1, 3]:
        return self.manifest.image_channels


def read_prepared(root: str | Path, classes: Sequence[str]) -> PreparedData:
    """The manifest of `root` with its files checked; every problem is one error line."""
    root = Path(root)
    manifest = read_manifest(root, classes)
    problems = []
    splits = {}
    for split in SPLITS:
        pairs = manifest.split_pairs(split)
        for pair in pairs:
            for rel in (pair.image, pair.mask):
                if not (root / rel).is_file():
                    problems.append(
                        f"{root / rel}: listed in {MANIFEST_NAME} but missing; rerun prepare"
                    )
        splits[split] = PairList(
            images=tuple(str(root / pair.image) for pair in pairs),
            masks=tuple(str(root / pair.mask) for pair in pairs),
            heights=tuple(pair.height for pair in pairs),
            widths=tuple(pair.width for pair in pairs),
        )
    for split in ("train", "val"):
        if not splits[split]:
            problems.append(
                f"{root / MANIFEST_NAME}: no {split} pairs; training needs both train and val "
                "(check prepare.split and the number of stacks)"
            )
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        raise InputDataError(
            problems[:MAX_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else [])
        )
    return PreparedData(root=root, manifest=manifest, splits=splits)


def check_crop_size(data: PreparedData, image_size: int, multiple: int) -> None:
    """Refuse a train.image_size no train frame fills: every crop would be mostly the zero
    padding added to frames smaller than the crop (padding a few smaller frames is meant)."""
    pairs = data.splits["train"]
    fits = max(min(h, w) for h, w in zip(pairs.heights, pairs.widths, strict=True))
    if image_size <= fits:
        return
    largest = max(zip(pairs.heights, pairs.widths, strict=True), key=min)
    advice = (
        f"use at most {fits // multiple * multiple}"
        if fits >= multiple
        else f"frames this small need a smaller train.depth (crops are multiples of {multiple})"
    )
    raise ConfigError(
        f"{data.root / MANIFEST_NAME}: train.image_size {image_size} is larger than every train "
        f"frame (largest {largest[0]} x {largest[1]}), so every crop would be mostly zero "
        f"padding: {advice}"
    )


def prepared_hash(data: PreparedData) -> str:
    """sha256 over the manifest and every pair file it lists (names and bytes)."""
    digest = hashlib.sha256((data.root / MANIFEST_NAME).read_bytes())
    for split in SPLITS:
        pairs = data.splits[split]
        for path in pairs.images + pairs.masks:
            digest.update(Path(path).relative_to(data.root).as_posix().encode())
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def raw_hash(data: PreparedData) -> str:
    """sha256 over the raw stacks' source hashes recorded by prepare (name -> hash)."""
    sources = {name: record.source_hash for name, record in sorted(data.manifest.stacks.items())}
    return hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()
