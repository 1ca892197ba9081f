"""The prepared data as training reads it (train.prepared): contract, file checks, hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackseg.contracts import read_manifest, write_manifest
from stackseg.errors import InputDataError
from stackseg.train.prepared import prepared_hash, raw_hash, read_prepared

CLASSES = ["disc", "ring", "streak"]


def test_split_lists_follow_the_manifest(prepared: Path):
    data = read_prepared(prepared, CLASSES)
    assert data.image_channels == 1 and data.manifest.classes == CLASSES
    assert {split: len(pairs) for split, pairs in data.splits.items()} == {
        "train": 6,
        "val": 2,
        "test": 2,
    }
    train = data.splits["train"]
    assert train.images[0] == str(prepared / "train/images/s00_f0000.jpg")
    assert train.masks[0] == str(prepared / "train/masks/s00_f0000.png")
    assert train.pixels() == 4 * 32 * 40 + 2 * 28 * 24


def test_class_mismatch_and_missing_manifest(prepared: Path):
    with pytest.raises(InputDataError, match="prepared for classes"):
        read_prepared(prepared, ["disc"])
    with pytest.raises(InputDataError) as info:
        read_prepared(prepared / "nowhere", CLASSES)
    assert info.value.problems[0].startswith(f"{prepared / 'nowhere' / 'manifest.json'}: not found")


def test_missing_files_are_listed_one_line_each(prepared: Path):
    (prepared / "train/images/s00_f0000.jpg").unlink()
    (prepared / "val/masks/s03_f0001.png").unlink()
    with pytest.raises(InputDataError) as info:
        read_prepared(prepared, CLASSES)
    assert info.value.problems == [
        f"{prepared / 'train/images/s00_f0000.jpg'}: listed in manifest.json but missing; "
        "rerun prepare",
        f"{prepared / 'val/masks/s03_f0001.png'}: listed in manifest.json but missing; "
        "rerun prepare",
    ]


def test_train_and_val_must_not_be_empty(prepared: Path):
    manifest = read_manifest(prepared)
    no_val = manifest.model_copy(update={"pairs": [p for p in manifest.pairs if p.split != "val"]})
    write_manifest(no_val, prepared)
    with pytest.raises(InputDataError, match="no val pairs; training needs both train and val"):
        read_prepared(prepared, CLASSES)


def test_hashes_follow_the_data(prepared: Path):
    data = read_prepared(prepared, CLASSES)
    before = prepared_hash(data), raw_hash(data)
    assert all(len(h) == 64 for h in before)
    assert (prepared_hash(data), raw_hash(data)) == before  # deterministic
    mask = prepared / "test/masks/s04_f0000.png"
    mask.write_bytes(mask.read_bytes() + b"\0")
    assert prepared_hash(data) != before[0] and raw_hash(data) == before[1]

    manifest = data.manifest
    stacks = dict(manifest.stacks)
    stacks["s00"] = stacks["s00"].model_copy(update={"source_hash": "xxh3-128:changed"})
    write_manifest(manifest.model_copy(update={"stacks": stacks}), prepared)
    assert raw_hash(read_prepared(prepared, CLASSES)) != before[1]
