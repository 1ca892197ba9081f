"""`models/model.json`: the model card, the trained model's input and output contract and its
lineage (train writes it, every consumer reads it through `read_card`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import model_validator

from stackseg import atomic
from stackseg.contracts.common import CARD_FORMAT, Document, ScalingRule, _Record, read_document
from stackseg.contracts.manifest import Manifest


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


class InstancesContract(_Record):
    """A model trained on instance labels (`prepare.mask_format: labels`): class 0 is every
    object pixel and, with `labels_boundary`, class `boundary_class` the objects' boundary
    pixels; objects are made from the masks after thresholding (stackseg.objects)."""

    boundary_class: int | None
    source: str


class ThresholdChoice(_Record):
    """How `train.threshold: auto` chose (stackseg.train.threshold): the metric, pooled over
    the val split's pixels per class, at the chosen thresholds and at 0.5."""

    metric: Literal["f1", "iou"]
    split: str
    grid: str
    scores: list[float]  # per class, the metric at the chosen threshold
    scores_at_default: list[float]  # and at 0.5
    pixels: list[int]  # positive val pixels per class (0: no choice possible, 0.5 kept)


class OutputContract(_Record):
    channels: int
    activation: str
    meaning: str
    # probability >= thresholds[k] -> class k (one per channel, in `classes` order)
    thresholds: list[float]
    # "fixed" (train.threshold) or "auto on val (f1)" / "auto on val (iou)"
    threshold_rule: str
    # set for models of instance labels; None (and absent from the file) otherwise
    instances: InstancesContract | None = None
    # auto only: what the choice scored; None (and absent from the file) for fixed
    threshold_choice: ThresholdChoice | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_threshold(cls, data: Any) -> Any:
        # cards written before per-class thresholds hold one `threshold` for every class
        if isinstance(data, dict) and "threshold" in data and "thresholds" not in data:
            data = dict(data)
            one = data.pop("threshold")
            channels = data.get("channels")
            if isinstance(channels, int) and channels > 0:
                data["thresholds"] = [one] * channels
                data.setdefault("threshold_rule", "fixed")
        return data

    @model_validator(mode="after")
    def _one_per_channel(self) -> OutputContract:
        if len(self.thresholds) != self.channels:
            raise ValueError(
                f"{len(self.thresholds)} thresholds for {self.channels} output channels"
            )
        if not all(0.0 < t < 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must lie in (0, 1), got {self.thresholds}")
        return self

    def threshold_array(self) -> np.ndarray:
        """(K,) float32: `probs >= threshold_array()` is the masks of (..., K) probabilities
        (float32, as the probabilities are, so a comparison is the same in every reader)."""
        return np.asarray(self.thresholds, dtype=np.float32)


class Reproducibility(_Record):
    """What decided the weights' bytes besides data, params and code (train.determinism)."""

    mode: Literal["portable", "fast"]
    isa_cap: str | None  # oneDNN's instruction-set cap in effect; None: the CPU's best
    intra_op_threads: int
    cpu_model: str | None  # fast only: portable's bytes must not depend on the CPU


class Lineage(_Record):
    code_commit: str | None
    code_sha256: str
    raw_data_sha256: str
    prepared_data_sha256: str
    pairs: dict[str, int]
    software: dict[str, str | None]
    # absent from cards written before train.reproducibility existed
    reproducibility: Reproducibility | None = None


class TrainingSummary(_Record):
    epochs_run: int
    stopped_early: bool
    best_epoch: int | None
    best_val: dict[str, float]
    monitor: str


class ModelCard(Document):
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
        # a card without instances (or without an auto threshold) is written without the
        # field; the other None values (no git commit, no best epoch) stay, as null
        absent = {
            name for name in ("instances", "threshold_choice") if getattr(self.output, name) is None
        }
        exclude = {"output": absent} if absent else None
        return json.dumps(self.model_dump(mode="json", exclude=exclude), indent=2) + "\n"


def instances_contract(manifest: Manifest) -> InstancesContract | None:
    """What the card says of a model of instance labels (None for the other mask formats):
    with labels_boundary the config asks for 2 classes, the 2nd being the boundaries."""
    if manifest.mask_format != "labels":
        return None
    return InstancesContract(
        boundary_class=1 if len(manifest.classes) == 2 else None,
        source="instance labels (prepare.mask_format labels)",
    )


def read_card(path: str | Path, classes: Sequence[str] | None = None) -> ModelCard:
    """The model card, checked; `classes` (from params) must match the model's."""
    return read_document(Path(path), ModelCard, classes, "train")


def write_card(card: ModelCard, path: str | Path) -> Path:
    atomic.write_text(path := Path(path), card.dumps())
    return path
