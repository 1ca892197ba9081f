"""Save a model so that the same weights always give the same bytes.

Keras writes volatile values into a .keras archive: the current time (`date_saved` in
metadata.json and the zip entry time of model.weights.h5) and, in config.json, the memory
address of each object shared between layers (`shared_object_id`). Times are pinned and
the ids renumbered 1, 2, ... in order of appearance (they only need to be consistent within
the file), so retraining with the same seed reproduces models/model.keras byte for byte
and dvc.lock does not change.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import keras

from stackseg import atomic

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_DATE_SAVED = "1980-01-01@00:00:00"


def _renumber_shared_objects(node, ids: dict) -> None:
    if isinstance(node, dict):
        if "shared_object_id" in node:
            node["shared_object_id"] = ids.setdefault(node["shared_object_id"], len(ids) + 1)
        for value in node.values():
            _renumber_shared_objects(value, ids)
    elif isinstance(node, list):
        for value in node:
            _renumber_shared_objects(value, ids)


def normalise_keras_archive(source: Path, target: Path) -> None:
    """Copy a .keras zip to `target` with fixed entry times and a fixed date_saved."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata["date_saved"] = FIXED_DATE_SAVED
                data = json.dumps(metadata).encode()
            elif info.filename == "config.json":
                config = json.loads(data)
                _renumber_shared_objects(config, {})
                data = json.dumps(config).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = info.compress_type
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Write `model` (architecture and weights only: no optimizer, no compile config).

    Written through `stackseg.atomic` (beside `path`, then renamed into place), so an
    interrupted save never leaves a truncated model behind.
    """
    path = Path(path)
    # A fresh functional model over the same layers: it is not compiled, so the archive
    # holds no optimizer state and loads without the training losses and metrics.
    # single tensors, not lists of one: predict() then returns an array, as in training
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    inference = keras.Model(inputs, outputs, name=model.name)
    # Keras picks the format from the file name, so its raw archive goes into a scratch
    # directory as raw.keras; only the normalised copy is renamed into place
    scratch = atomic.temp_path(path, directory=True)
    try:
        with atomic.replacing(path) as tmp:
            raw = scratch / "raw.keras"
            inference.save(raw)
            normalise_keras_archive(raw, tmp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path
