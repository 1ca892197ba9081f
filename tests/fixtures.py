"""Test fixtures that build stage contracts through `stackseg.contracts`, never by hand.

`make_pair` and `make_manifest` give a `contracts.Manifest` of the shape prepare writes
(paths `<split>/images/<stack>_f<frame>.jpg` and `<split>/masks/...png`, per-split
balances, one record per stack), so a fixture cannot drift from what prepare produces;
`write_prepared_manifest` writes it with `contracts.write_manifest`. `make_card` is a
`contracts.ModelCard` as train writes it, with the fields a test cares about overridable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from stackseg.contracts import (
    CARD_FORMAT,
    MANIFEST_FORMAT,
    SCALING_RULE,
    SPLITS,
    InputContract,
    Lineage,
    Manifest,
    ModelCard,
    OutputContract,
    Pair,
    ScalingRule,
    SplitBalance,
    StackRecord,
    StackScaling,
    TrainingSummary,
    pair_files,
    pair_stem,
    write_manifest,
)
from stackseg.prepare.manifest import class_balance

SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
CODECS = {
    "jpeg": {"encoder": "test fixture", "quality": 95, "subsampling": "4:4:4"},
    "png": {"encoder": "test fixture", "zlib_level": 1, "strategy": "rle", "filter": "sub"},
}


def make_pair(
    stack: str,
    frame: int,
    split: str,
    height: int,
    width: int,
    class_fraction: Sequence[float],
    frames: int = 1,
) -> Pair:
    """One pair at the paths prepare gives it."""
    image, mask = pair_files(split, pair_stem(stack, frame, frames))
    return Pair(
        stack=stack,
        frame=frame,
        split=split,  # type: ignore[arg-type]  # checked by the Literal
        image=image,
        mask=mask,
        height=height,
        width=width,
        class_fraction=[round(float(f), 6) for f in class_fraction],
    )


def make_manifest(
    classes: Sequence[str], image_channels: int, pairs: Sequence[Pair], seed: int = 42
) -> Manifest:
    """The manifest prepare would write for `pairs` (uint8 stacks, split by stack)."""
    classes = list(classes)
    pairs = sorted(pairs, key=lambda p: (SPLITS.index(p.split), p.stack, p.frame))  # as prepare
    stacks: dict[str, StackRecord] = {}
    for name in sorted({p.stack for p in pairs}):
        mine = [p for p in pairs if p.stack == name]
        splits = {p.split for p in mine}
        stacks[name] = StackRecord(
            split=mine[0].split if len(splits) == 1 else "mixed",
            frames=len(mine),
            height=mine[0].height,
            width=mine[0].width,
            image=f"images/{name}.tif",
            mask=f"masks/{name}.tif",
            scaling=StackScaling(source_dtype="uint8", method="none"),
            source_hash="xxh3-128:" + hashlib.sha256(name.encode()).hexdigest()[:32],
        )
    # the per-split balances as prepare computes them (pixel-weighted)
    balances = {
        split: SplitBalance(**balance)
        for split, balance in class_balance([p.model_dump() for p in pairs], len(classes)).items()
    }
    return Manifest(
        format=MANIFEST_FORMAT,
        classes=classes,
        image_channels=image_channels,  # type: ignore[arg-type]  # checked by the Literal
        mask_format="channels",
        split_by="stack",
        split_fractions=SPLIT_FRACTIONS,
        seed=seed,
        scaling=ScalingRule(**SCALING_RULE, low_percentile=0.1, high_percentile=99.9),
        codecs=CODECS,
        fingerprint="sha256:" + hashlib.sha256(repr(pairs).encode()).hexdigest(),
        splits=balances,
        stacks=stacks,
        pairs=pairs,
    )


def write_prepared_manifest(
    root: Path, classes: Sequence[str], image_channels: int, pairs: Sequence[Pair]
) -> Manifest:
    """Build the manifest of `pairs` and write it to `root/manifest.json`."""
    manifest = make_manifest(classes, image_channels, pairs)
    write_manifest(manifest, root)
    return manifest


def make_card(
    classes: Sequence[str],
    channels: int = 1,
    size_multiple: int = 4,
    threshold: float = 0.5,
    model_file: str = "model.keras",
) -> ModelCard:
    """A model card of the shape train writes (texts and hashes are placeholders)."""
    return ModelCard(
        format=CARD_FORMAT,
        model_file=model_file,
        classes=list(classes),
        input=InputContract(
            channels=channels,  # type: ignore[arg-type]  # checked by the Literal
            dtype="float32",
            scaling="float32(uint8 pixel) / 255",
            jpeg_decoding="accurate integer IDCT",
            value_range=[0.0, 1.0],
            size_multiple=size_multiple,
            size_rule="pad to a multiple of size_multiple, predict, crop back",
            train_size=32,
            train_crop="random crops",
        ),
        output=OutputContract(
            channels=len(classes),
            activation="sigmoid",
            meaning="channel k = probability that the pixel belongs to classes[k]",
            thresholds=[threshold] * len(classes),
            threshold_rule="fixed",
        ),
        prepared_scaling=ScalingRule(**SCALING_RULE, low_percentile=0.1, high_percentile=99.9),
        lineage=Lineage(
            code_commit=None,
            code_sha256="0" * 64,
            raw_data_sha256="1" * 64,
            prepared_data_sha256="2" * 64,
            pairs={"train": 2, "val": 1, "test": 1},
            software={"stackseg": "test"},
        ),
        params={"seed": 42, "classes": list(classes), "train": {}},
        training=TrainingSummary(
            epochs_run=1, stopped_early=False, best_epoch=1, best_val={}, monitor="val mean IoU"
        ),
    )
