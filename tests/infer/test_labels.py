"""`stackseg infer` with a model of instance labels (the card's `output.instances`): the
instance-label stack beside the masks, made as evaluate makes them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
import yaml

from stackseg.cli import main
from stackseg.config import ObjectsConfig
from stackseg.errors import ConfigError
from stackseg.objects.instances import instances
from tests.infer.conftest import evaluate_probabilities
from tests.infer.test_stage import test_stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def labels_model(model_dir, tmp_path, boundary_class=None):
    """The session's model with a card that says: instance labels (class 0 = objects)."""
    folder = tmp_path / "labels-model"
    shutil.copytree(model_dir, folder)
    card = json.loads((folder / "model.json").read_text())
    card["output"]["instances"] = {"boundary_class": boundary_class, "source": "test"}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def infer(params_file, model, *args: str) -> int:
    return main(
        ["infer", "--params", str(params_file), "--model", str(model / "model.keras"), *args]
    )


def test_a_labels_model_writes_instance_labels(
    test_stack,  # noqa: F811
    model_dir,
    keras_model,
    card,
    params_file,
    tmp_path,
):
    path, images = test_stack
    model = labels_model(model_dir, tmp_path)
    out = tmp_path / "out"
    assert infer(params_file, model, str(path), "--out", str(out), "--backend", "keras") == 0
    labels = tifffile.imread(out / f"{path.stem}.labels.tif")
    assert labels.shape == (len(images), 48, 48) and labels.dtype == np.uint16
    objects = ObjectsConfig(**yaml.safe_load(params_file.read_text())["objects"])
    probs = evaluate_probabilities(keras_model, card, images)
    for frame, p in zip(labels, probs, strict=True):
        expected = instances(p >= card.output.threshold_array(), objects, p)
        np.testing.assert_array_equal(frame, expected)
    assert labels.max() >= 1  # the model finds discs in these frames
    sidecar = json.loads((out / f"{path.stem}.infer.json").read_text())
    assert sidecar["outputs"]["labels"] == f"{path.stem}.labels.tif"
    assert sidecar["objects"] == objects.model_dump(mode="json")
    # the same model with its plain card: no labels file, no objects in the sidecar
    plain = tmp_path / "plain"
    assert infer(params_file, model_dir, str(path), "--out", str(plain), "--backend", "keras") == 0
    assert not (plain / f"{path.stem}.labels.tif").exists()
    assert json.loads((plain / f"{path.stem}.infer.json").read_text())["objects"] is None


def test_boundary_seeds_for_a_model_without_boundaries_is_one_line(
    test_stack,  # noqa: F811
    model_dir,
    params_file,
    tmp_path,
    capsys,
):
    path, _ = test_stack
    params = yaml.safe_load(params_file.read_text())
    params["classes"] = ["nucleus", "boundary"]
    params["prepare"].update(mask_format="labels", labels_boundary=True)
    params["objects"].update(method="watershed", seeds="boundary")
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    out = tmp_path / "out"
    model = labels_model(model_dir, tmp_path, boundary_class=None)
    assert infer(params_file, model, str(path), "--out", str(out)) == ConfigError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no boundary class" in err[0]
    assert not out.exists() or list(out.iterdir()) == []
