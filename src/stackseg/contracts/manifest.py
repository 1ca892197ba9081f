"""`<prepared>/manifest.json`: what each prepared pair is and how it was made (prepare writes
it, every later stage reads it through `read_manifest`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from stackseg import atomic
from stackseg.contracts.common import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    SPLITS,
    Document,
    ScalingRule,
    Split,
    _Record,
    read_document,
)


class Pair(_Record):
    """One prepared frame; paths are relative to the prepared directory."""

    stack: str
    frame: int
    split: Split
    image: str
    mask: str
    height: int
    width: int
    class_fraction: list[float]
    # mask_format labels: the pair's object ids (contracts.ids_file), else None
    ids: str | None = None

    @property
    def name(self) -> str:
        """`<stack>_f<frame>`: the file stem shared by the image and the mask."""
        return Path(self.image).stem


class StackScaling(_Record):
    """What was applied to one stack's pixels: nothing (uint8) or a percentile window."""

    source_dtype: str
    # none: uint8, kept; percentile: the stack's own window; training / fixed: the rule's
    # one window (the manifest's `scaling.window`)
    method: Literal["none", "percentile", "training", "fixed"]
    low_percentile: float | None = None
    high_percentile: float | None = None
    low: float | None = None
    high: float | None = None


class StackRecord(_Record):
    """One raw stack: where it came from, its size, its scaling and its content hash."""

    split: Split | Literal["mixed"]
    frames: int
    height: int
    width: int
    image: str  # relative to the raw directory
    mask: str
    scaling: StackScaling
    source_hash: str


class SplitBalance(_Record):
    stacks: int
    pairs: int
    class_fraction: list[float]


class Manifest(Document):
    """`<prepared>/manifest.json`: what each pair is and how it was made."""

    FORMAT: ClassVar[int | str] = MANIFEST_FORMAT
    WHAT: ClassVar[str] = "manifest"
    MADE_FOR: ClassVar[str] = "prepared for classes"

    format: int
    classes: list[str]
    image_channels: Literal[1, 3]
    mask_format: str
    split_by: str
    split_fractions: dict[str, float]
    seed: int
    scaling: ScalingRule
    codecs: dict[str, Any]
    fingerprint: str
    splits: dict[str, SplitBalance]
    stacks: dict[str, StackRecord]
    pairs: list[Pair]

    @field_validator("splits", "split_fractions")
    @classmethod
    def _every_split(cls, value: dict[str, Any]) -> dict[str, Any]:
        if sorted(value) != sorted(SPLITS):
            raise ValueError(f"expected the splits {list(SPLITS)}, got {list(value)}")
        return value

    def split_pairs(self, split: str) -> list[Pair]:
        """The pairs of one split, in manifest order (sorted by stack, frame)."""
        return [pair for pair in self.pairs if pair.split == split]

    def dumps(self) -> str:
        """Indented JSON with one line per pair (readable, diffable, compact)."""
        document = self.model_dump(mode="json", exclude_none=True)
        parts = []
        for key, value in document.items():
            if key == "pairs" and value:
                # the C encoder, called directly: half the time of json.dumps (20,000 pairs)
                encode = json.JSONEncoder(check_circular=False).encode
                text = "[\n    " + ",\n    ".join(map(encode, value)) + "\n  ]"
            else:
                text = json.dumps(value, indent=2).replace("\n", "\n  ")
            parts.append(f"  {json.dumps(key)}: {text}")
        return "{\n" + ",\n".join(parts) + "\n}\n"


def read_manifest(prepared: str | Path, classes: Sequence[str] | None = None) -> Manifest:
    """The manifest of a prepared directory, checked; `classes` (from params) must match."""
    return read_document(Path(prepared) / MANIFEST_NAME, Manifest, classes, "prepare")


def write_manifest(manifest: Manifest, prepared: str | Path) -> Path:
    atomic.write_text(path := Path(prepared) / MANIFEST_NAME, manifest.dumps())
    return path
