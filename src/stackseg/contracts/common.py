"""Shared parts of the contracts: split names, file names and suffixes, the PNG-channel rule
of the masks, the scaling rule's description, and the one checked way to read a document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from stackseg.errors import InputDataError

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = get_args(Split)
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CARD_FORMAT = "stackseg-model-card/1"
IMAGE_SUFFIX = ".jpg"
MASK_SUFFIX = ".png"
MAX_CLASSES = 4
# instance ids of mask_format labels: one 16-bit PNG per pair under <split>/objects/
IDS_FOLDER = "objects"
IDS_SUFFIX = ".png"
MAX_OBJECTS = 65535

# How prepare brings uint16/float images to 8 bits (stackseg.prepare.scaling has the code):
# the per-stack rule (`prepare.scaling: stack`); `scaling_rule` gives every rule's record.
SCALING_RULE = {
    "uint8": "kept as is",
    "other_types": "per-stack percentile window over all pixels of the stack",
    "formula": "round(255 * (clip(v, low, high) - low) / (high - low)); 0 when high == low",
    "histogram": "exact for uint16; otherwise 65536 bins between the stack's min and max",
}
ScalingName = Literal["stack", "training", "fixed"]
# what `other_types` says under each rule of `prepare.scaling`
OTHER_TYPES = {
    "stack": SCALING_RULE["other_types"],
    "training": (
        "one window for every stack: the percentiles over all pixels of the training stacks "
        "(pooled), from prepare; new data get the same window"
    ),
    "fixed": "one window for every stack: prepare.scale_window, in the images' units",
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


def ids_file(split: str, stem: str) -> str:
    """The object ids of a pair (`prepare.mask_format: labels` only), relative to the prepared
    directory: a 16-bit grayscale PNG, 0 = background and 1..N = the frame's objects (the
    input ids renumbered without gaps, in their order: skimage's relabel_sequential)."""
    return f"{split}/{IDS_FOLDER}/{stem}{IDS_SUFFIX}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScalingRule(_Record):
    uint8: str
    other_types: str
    formula: str
    histogram: str
    low_percentile: float
    high_percentile: float
    # prepare.scaling; documents made before the option existed are "stack"
    rule: ScalingName = "stack"
    # training and fixed: the one [low, high] applied to every uint16/float stack (the
    # prepared ones and, read from the model card, new data); None for stack, and for
    # training when every training stack is uint8 (nothing to pool: new uint16/float data
    # then get their own per-stack window)
    window: list[float] | None = None

    def window_for(self, dtype: str) -> tuple[float, float] | None:
        """The one window of the training and fixed rules (None: per stack, or uint8)."""
        if self.window is None or dtype == "uint8":
            return None
        return self.window[0], self.window[1]


def scaling_rule(
    rule: ScalingName,
    low_percentile: float,
    high_percentile: float,
    window: Sequence[float] | None,
) -> ScalingRule:
    """The manifest's (and the card's) record of a scaling rule; `window` for training and
    fixed only (fixed needs one)."""
    if (rule == "stack" and window is not None) or (rule == "fixed" and window is None):
        raise ValueError(f"scaling rule {rule!r} with window {window!r}")
    return ScalingRule(
        **{**SCALING_RULE, "other_types": OTHER_TYPES[rule]},
        low_percentile=low_percentile,
        high_percentile=high_percentile,
        rule=rule,
        window=None if window is None else [float(v) for v in window],
    )


class Document(_Record):
    """A versioned file: its format version, what it is called in messages, and what its
    `classes` were made for (each subclass sets these)."""

    FORMAT: ClassVar[int | str]
    WHAT: ClassVar[str]
    MADE_FOR: ClassVar[str]


_Document = TypeVar("_Document", bound=Document)


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


def read_document(
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
    # the validated document's classes (every Document has the field; read from `data`,
    # which validation has checked, so the base class declares no field of its own)
    made_for = list(data["classes"])
    if classes is not None and made_for != list(classes):
        raise InputDataError(
            f"{path}: {kind.MADE_FOR} {made_for}, params say {list(classes)}; "
            f"rerun `dvc repro {stage}`"
        )
    return document
