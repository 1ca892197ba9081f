"""The prepared pairs as training sees them: manifest, per-split file lists and data hashes.

Reads data/prepared/manifest.json (written by the prepare stage) and checks that it matches
the params (class names) and that every listed file exists, so a stale or partial prepare
fails with one line per problem before TensorFlow starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from stackseg.documents import read_json
from stackseg.errors import InputDataError

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PairList:
    """Pairs of one split in manifest order (sorted by stack, frame)."""

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
    classes: tuple[str, ...]
    image_channels: int
    scaling: dict
    splits: dict[str, PairList]
    manifest: dict


def mask_png_channels(n_classes: int) -> int:
    """Channels of the prepared mask PNGs: L for 1 class, RGB for 2-3, RGBA for 4."""
    return 1 if n_classes == 1 else 3 if n_classes <= 3 else 4


def read_prepared(root: str | Path, classes: list[str]) -> PreparedData:
    root = Path(root)
    manifest_path = root / MANIFEST
    manifest = read_json(
        manifest_path,
        missing="run `dvc repro prepare` or `stackseg prepare`",
        invalid="rerun prepare",
    )
    problems = []
    if list(manifest.get("classes", [])) != list(classes):
        problems.append(
            f"{manifest_path}: prepared for classes {manifest.get('classes')}, params say "
            f"{list(classes)}; rerun `dvc repro prepare`"
        )
    channels = manifest.get("image_channels")
    if channels not in (1, 3):
        problems.append(f"{manifest_path}: image_channels must be 1 or 3, got {channels!r}")
    lists: dict[str, dict[str, list]] = {
        s: {"images": [], "masks": [], "heights": [], "widths": []} for s in SPLITS
    }
    for number, pair in enumerate(manifest.get("pairs", [])):
        split = pair.get("split")
        if split not in lists:
            problems.append(f"{manifest_path}: pair {number} has unknown split {split!r}")
            continue
        for key, kind in (("image", "images"), ("mask", "masks")):
            path = root / pair[key]
            if not path.is_file():
                problems.append(f"{path}: listed in {MANIFEST} but missing; rerun prepare")
            lists[split][kind].append(str(path))
        lists[split]["heights"].append(int(pair["height"]))
        lists[split]["widths"].append(int(pair["width"]))
    for split in ("train", "val"):
        if not lists[split]["images"]:
            problems.append(
                f"{manifest_path}: no {split} pairs; training needs both train and val "
                "(check prepare.split and the number of stacks)"
            )
    if problems:
        raise InputDataError(
            problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        )
    splits = {
        s: PairList(*(tuple(lists[s][k]) for k in ("images", "masks", "heights", "widths")))
        for s in SPLITS
    }
    return PreparedData(
        root=root,
        classes=tuple(classes),
        image_channels=int(channels),
        scaling=manifest.get("scaling", {}),
        splits=splits,
        manifest=manifest,
    )


def prepared_hash(data: PreparedData) -> str:
    """sha256 over the manifest and every pair file it lists (names and bytes)."""
    digest = hashlib.sha256((data.root / MANIFEST).read_bytes())
    for split in SPLITS:
        pairs = data.splits[split]
        for path in pairs.images + pairs.masks:
            digest.update(Path(path).relative_to(data.root).as_posix().encode())
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def raw_hash(data: PreparedData) -> str:
    """sha256 over the raw stacks' source hashes recorded by prepare (name -> hash)."""
    stacks = data.manifest.get("stacks", {})
    sources = {name: info.get("source_hash") for name, info in sorted(stacks.items())}
    return hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()
