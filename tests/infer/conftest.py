"""The session's trained model (tests/trained.py) in a folder of its own, with its ONNX
export beside it (`model.keras`, `model.json`, `model.onnx`), and evaluate's own
prediction path for comparisons."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from stackseg.contracts import read_card, read_manifest
from stackseg.evaluate.io import read_image
from stackseg.predict import predict_frames


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory) -> Path:
    """model.keras + model.json + model.onnx (Keras 3's tf2onnx export), exported once."""
    from stackseg.models import load_model

    folder = tmp_path_factory.mktemp("infer-model")
    shutil.copy(trained.path("model"), folder / "model.keras")
    shutil.copy(trained.path("model_card"), folder / "model.json")
    model = load_model(folder / "model.keras")
    # one call first: the export traces a built model
    model.predict_on_batch(np.zeros((1, 48, 48, 1), np.float32))
    model.export(str(folder / "model.onnx"), format="onnx", verbose=False)
    return folder


@pytest.fixture(scope="session")
def keras_model(model_dir):
    from stackseg.models import load_model

    return load_model(model_dir / "model.keras")


@pytest.fixture(scope="session")
def card(model_dir):
    return read_card(model_dir / "model.json")


@pytest.fixture(scope="session")
def test_pairs(trained):
    return read_manifest(trained.path("prepared")).split_pairs("test")


@pytest.fixture
def params_file(trained, tmp_path) -> Path:
    """The trained project's params (its infer: section as params.yaml has it)."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(trained.params, sort_keys=False))
    return path


def write_params(params_file: Path, **infer) -> Path:
    params = yaml.safe_load(params_file.read_text())
    params["infer"].update(infer)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    return params_file


def evaluate_probabilities(keras_model, card, images: list[np.ndarray]) -> list[np.ndarray]:
    """What evaluate computes for these frames: predict.predict_frames with the Keras model
    on the 8-bit images (its batch size), training's preprocessing."""
    from stackseg.preprocessing import to_model_input

    results = predict_frames(
        keras_model, enumerate(images), to_model_input, card.input.size_multiple, 16
    )
    return [probs for _, _, probs in results]


def prepared_image(trained, pair) -> np.ndarray:
    return read_image(trained.path("prepared") / pair.image, 1)
