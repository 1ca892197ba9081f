"""Instance labels over HTTP: a model whose card says `output.instances` answers
`/predict?format=labels` (16-bit PNG), `format=json` with the objects, and
`/predict/stack?format=labels`, each equal to infer's `<name>.labels.tif`."""

from __future__ import annotations

import io
import json
import shutil
import sys

import imagecodecs
import numpy as np
import pytest
import tifffile

from stackseg.serve import encode
from tests.serve.conftest import infer_outputs, make_app, png_bytes, tiff_bytes, wait_ready


@pytest.fixture(scope="module")
def labels_dir(model_dir, tmp_path_factory):
    """The session's model with a card that says: instance labels (class 0 = objects)."""
    folder = tmp_path_factory.mktemp("serve-labels") / "model"
    shutil.copytree(model_dir, folder)
    card = json.loads((folder / "model.json").read_text())
    card["output"]["instances"] = {"boundary_class": None, "source": "test"}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="module")
def labels_client(labels_dir, serve_params):
    from fastapi.testclient import TestClient

    with TestClient(make_app(labels_dir, serve_params)) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def labels_inputs(frames, labels_dir, serve_params, tmp_path_factory):
    """The frames as PNGs and as a 4-frame stack, and infer's labels for all."""
    folder = tmp_path_factory.mktemp("serve-labels-inputs")
    for index, frame in enumerate(frames):
        (folder / f"f{index}.png").write_bytes(png_bytes(frame))
    (folder / "stack.tif").write_bytes(tiff_bytes(np.stack(frames)))
    out = infer_outputs(labels_dir, serve_params, sorted(folder.iterdir()), folder / "out")
    return folder, out


@pytest.mark.slow
def test_labels_equal_infer(labels_client, labels_inputs, frames):
    folder, out = labels_inputs
    # the frame with the most objects: ids are compared, not a blank
    found = [tifffile.imread(out / f"f{i}.labels.tif").reshape(frames[i].shape) for i in range(4)]
    best = max(range(4), key=lambda i: int(found[i].max()))
    expected = found[best]
    assert expected.max() >= 1
    data = (folder / f"f{best}.png").read_bytes()
    answer = labels_client.post("/predict?format=labels", files={"file": ("f", data)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    served = imagecodecs.png_decode(answer.content)
    assert served.dtype == np.uint16
    np.testing.assert_array_equal(served, expected)

    body = labels_client.post("/predict?format=json", files={"file": ("f", data)}).json()
    assert body["objects"] == int(expected.max())
    np.testing.assert_array_equal(encode.from_labels_rle(body["labels"]), expected)

    stack = (folder / "stack.tif").read_bytes()
    answer = labels_client.post("/predict/stack?format=labels", files={"file": ("s", stack)})
    assert answer.status_code == 200, answer.text
    served = tifffile.imread(io.BytesIO(answer.content))
    np.testing.assert_array_equal(served, tifffile.imread(out / "stack.labels.tif"))
    assert served.dtype == np.uint16 and served.shape[0] == 4
    assert labels_client.get("/model").json()["instance_labels"] is True


def test_a_masks_model_refuses_labels(client, frames):
    data = png_bytes(frames[0])
    for path in ("/predict?format=labels", "/predict/stack?format=labels"):
        answer = client.post(path, files={"file": ("f", data)})
        assert answer.status_code == 422, path
        assert answer.json()["error"] == "invalid_request"
        assert "output.instances" in answer.json()["detail"]
    body = client.post("/predict?format=json", files={"file": ("f", data)}).json()
    assert "objects" not in body or body["objects"] is None
    assert client.get("/model").json()["instance_labels"] is False


def test_without_scikit_image_labels_are_refused_by_name(labels_dir, serve_params, monkeypatch):
    from stackseg.config import load_config
    from stackseg.contracts import read_card
    from stackseg.infer.model import beside
    from stackseg.serve.predictor import _labels_error

    cfg, files = load_config(serve_params), beside(labels_dir / "model.keras")
    card = read_card(files.card)
    assert _labels_error(cfg, files, card) is None
    monkeypatch.setitem(sys.modules, "stackseg.objects.instances", None)  # as if not installed
    reason = _labels_error(cfg, files, card)
    assert reason is not None and "scikit-image" in reason


def test_labels_rle_round_trips():
    labels = np.array([[0, 2, 2], [1, 1, 0]], np.uint16)
    encoded = encode.labels_rle(labels)
    assert encoded == {"size": [2, 3], "values": [0, 1, 2, 1, 2, 0], "counts": [1, 1, 1, 1, 1, 1]}
    np.testing.assert_array_equal(encode.from_labels_rle(encoded), labels)
    assert encode.labels_rle(np.zeros((0, 3), np.uint16))["counts"] == []
