"""The one typed contract for what passes between stages: the manifest and the model card.

prepare writes `<prepared>/manifest.json` through `Manifest`; train writes
`models/model.json` through `ModelCard`. Every reader (train, evaluate, and any later
consumer: inference, serving, drift, dashboards) reads through `read_manifest` and
`read_card`, so a field is named, typed and checked in one place, and a file of another
format version is refused with one line that says what to rerun.

The shared constants live here too: split names, file names and suffixes, the
PNG-channel rule of the masks and the scaling rule's description.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from stackseg import atomic
from stackseg.errors import InputDataError

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = get_args(Split)
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CARD_FORMAT = "stackseg-model-card/1"
IMAGE_SUFFIX = ".jpg"
MASK_SUFFIX = ".png"
MAX_CLASSES = 4

# How prepare brings uint16/float images to 8 bits (stackseg.prepare.scaling has the code).
SCALING_RULE = {
    "uint8": "kept as is",
    "other_types": "per-stack percentile window over all pixels of the stack",
    "formula": "round(255 * (clip(v, low, high) - low) / (high - low)); 0 when high == low",
    "histogram": "exact for uint16; otherwise 65536 bins between the stack's min and max",
}


def mask_png_channels(n_classes: int) -> int:
    """Channels of a prepared mask PNG: L for 1 class, RGB for 2-3, RGBA for 4.

    Channel k of the PNG is class k (0 or 255); unused channels of RGB are 0.
    """
    if not 1 <= n_classes <= MAX_CLASSES:
        raise ValueError(f"1 to {MAX_CLASSES} classes fit a PNG mask, got {n_classes}")
    return 1 if n_classes == 1 else 3 if n_classes <= 3 else 4


def pair_stem(stack: str, frame: int, frames: int) -> str:
    """`<stack>_f0042`: the file stem of a pair; at least 4 digits, more when the stack has
    more frames (so stems sort in frame order)."""
    digits = max(4, len(str(max(frames - 1, 0))))
    return f"{stack}_f{frame:0{digits}d}"


def pair_files(split: str, stem: str) -> tuple[str, str]:
    """Image and mask paths of a pair, relative to the prepared directory."""
    return f"{split}/images/{stem}{IMAGE_SUFFIX}", f"{split}/masks/{stem}{MASK_SUFFIX}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @property
    def name(self) -> str:
        """`<stack>_f<frame>`: the file stem shared by the image and the mask."""
        return Path(self.image).stem


class StackScaling(_Record):
    """What was applied to one stack's pixels: nothing (uint8) or a percentile window."""

    source_dtype: str
    method: Literal["none", "percentile"]
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


class ScalingRule(_Record):
    uint8: str
    other_types: str
    formula: str
    histogram: str
    low_percentile: float
    high_percentile: float


class SplitBalance(_Record):
    stacks: int
    pairs: int
    class_fraction: list[float]


class Manifest(_Record):
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


class InputContract(_Record):
    """How to turn a prepared (8-bit) frame into what the model takes."""

    channels: Literal[1, 3]
    dtype: str
    scaling: str
    jpeg_decoding: str
    value_range: list[float]
    size_multiple: int
    size_rule: str
    train_size: int
    train_crop: str


class OutputContract(_Record):
    channels: int
    activation: str
    meaning: str
    threshold: float


class Lineage(_Record):
    code_commit: str | None
    code_sha256: str
    raw_data_sha256: str
    prepared_data_sha256: str
    pairs: dict[str, int]
    software: dict[str, str | None]


class TrainingSummary(_Record):
    epochs_run: int
    stopped_early: bool
    best_epoch: int | None
    best_val: dict[str, float]
    monitor: str


class ModelCard(_Record):
    """`models/model.json`: the model's input and output contract and its lineage."""

    FORMAT: ClassVar[int | str] = CARD_FORMAT
    WHAT: ClassVar[str] = "model card"
    MADE_FOR: ClassVar[str] = "model trained for classes"

    format: str
    model_file: str
    classes: list[str]
    input: InputContract
    output: OutputContract
    prepared_scaling: ScalingRule
    lineage: Lineage
    params: dict[str, Any]
    training: TrainingSummary

    def dumps(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


_Document = TypeVar("_Document", Manifest, ModelCard)


def _problems(path: Path, exc: ValidationError, fix: str) -> list[str]:
    lines = [
        f"{path}: {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}; {fix}"
        for err in exc.errors()[:5]
    ]
    if exc.error_count() > 5:
        lines.append(f"{path}: ... and {exc.error_count() - 5} more problems")
    return lines


def _load(path: Path, missing: str, fix: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError(f"{path}: not found ({missing})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise InputDataError(f"{path}: expected a JSON object; {fix}")
    return data


def _read(
    path: Path, kind: type[_Document], classes: Sequence[str] | None, stage: str
) -> _Document:
    """Load, check the format version, validate, and check the class names against params."""
    fix = f"rerun `dvc repro -f {stage}`"
    data = _load(path, f"run `dvc repro {stage}` or `stackseg {stage}` first", fix)
    expected = kind.FORMAT
    if data.get("format") != expected:
        raise InputDataError(
            f"{path}: {kind.WHAT} format {data.get('format')!r}, this stackseg reads format "
            f"{expected!r}; {fix}"
        )
    try:
        document = kind.model_validate(data)
    except ValidationError as exc:
        raise InputDataError(_problems(path, exc, fix)) from None
    if classes is not None and list(document.classes) != list(classes):
        raise InputDataError(
            f"{path}: {kind.MADE_FOR} {document.classes}, params say {list(classes)}; "
            f"rerun `dvc repro {stage}`"
        )
    return document


def read_manifest(prepared: str | Path, classes: Sequence[str] | None = None) -> Manifest:
    """The manifest of a prepared directory, checked; `classes` (from params) must match."""
    return _read(Path(prepared) / MANIFEST_NAME, Manifest, classes, "prepare")


def write_manifest(manifest: Manifest, prepared: str | Path) -> Path:
    atomic.write_text(path := Path(prepared) / MANIFEST_NAME, manifest.dumps())
    return path


def read_card(path: str | Path, classes: Sequence[str] | None = None) -> ModelCard:
    """The model card, checked; `classes` (from params) must match the model's."""
    return _read(Path(path), ModelCard, classes, "train")


def write_card(card: ModelCard, path: str | Path) -> Path:
    atomic.write_text(path := Path(path), card.dumps())
    return path
