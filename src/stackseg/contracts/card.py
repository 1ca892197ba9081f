"""`models/model.json`: the model card, the trained model's input and output contract and its
lineage (train writes it, every consumer reads it through `read_card`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

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


class OutputContract(_Record):
    channels: int
    activation: str
    meaning: str
    threshold: float
    # set for models of instance labels; None (and absent from the file) otherwise
    instances: InstancesContract | None = None


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
        # a card without instances is written as before the field existed (same bytes);
        # the other None values (no git commit, no best epoch) stay, as null
        exclude = {"output": {"instances"}} if self.output.instances is None else None
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
