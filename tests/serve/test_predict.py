"""POST /predict and /predict/stack through `with TestClient(app)`: the answers equal what
`stackseg infer` writes for the same files, in every format."""

from __future__ import annotations

import base64
import io

import imagecodecs
import numpy as np
import pytest
import tifffile

from stackseg.serve import encode
from tests.serve.conftest import infer_outputs, png_bytes, tiff_bytes


@pytest.fixture(scope="module")
def inputs(frames, tmp_path_factory):
    """The same frames as a PNG, a JPEG, a uint16 one-page TIFF and a 4-frame stack."""
    import cv2

    folder = tmp_path_factory.mktemp("serve-inputs")
    (folder / "gray.png").write_bytes(png_bytes(frames[0]))
    ok, jpeg = cv2.imencode(".jpg", frames[1])
    assert ok
    (folder / "photo.jpg").write_bytes(jpeg.tobytes())
    wide = frames[2].astype(np.uint16) * 200 + 1000  # prepare's percentile window applies
    (folder / "wide.tif").write_bytes(tiff_bytes(wide))
    (folder / "stack.tif").write_bytes(tiff_bytes(np.stack(frames)))
    return folder


@pytest.fixture(scope="module")
def expected(model_dir, serve_params, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-infer")
    files = sorted(inputs.iterdir())
    infer_outputs(model_dir, serve_params, files, out / "channels", png=True, probabilities=True)
    infer_outputs(model_dir, serve_params, [inputs / "stack.tif"], out / "index", format="index")
    return out


@pytest.mark.parametrize("name", ["gray.png", "photo.jpg", "wide.tif"])
def test_png_mask_equals_infer(client, inputs, expected, name):
    stem = name.rsplit(".", 1)[0]
    answer = client.post("/predict", files={"file": ("any.bin", (inputs / name).read_bytes())})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    served = imagecodecs.png_decode(answer.content)
    mine = imagecodecs.png_decode(
        (expected / f"channels/{stem}.masks/{stem}_f0000.png").read_bytes()
    )
    assert (
        served.shape
        == mine.shape
        == (*imagecodecs.png_decode((inputs / "gray.png").read_bytes()).shape, 3)
    )
    np.testing.assert_array_equal(served, mine)
    assert served.any()  # the trained model finds objects: the comparison is not of blanks


def test_tiff_and_probabilities_equal_infer(client, inputs, expected, card):
    data = (inputs / "gray.png").read_bytes()
    answer = client.post("/predict?format=tiff&probabilities=true", files={"file": ("f", data)})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/tiff"
    masks = tifffile.imread(io.BytesIO(answer.content))
    probs = tifffile.imread(io.BytesIO(answer.content), series=1)
    # infer's stacks have one page per frame: (1, H, W, K) for a one-frame input
    np.testing.assert_array_equal(masks, tifffile.imread(expected / "channels/gray.mask.tif")[0])
    np.testing.assert_array_equal(
        probs, tifffile.imread(expected / "channels/gray.prob.tif").reshape(probs.shape)
    )
    assert masks.shape == (*probs.shape[:2], len(card.classes))


def test_json_fractions_rle_and_probabilities(client, inputs, expected, card):
    data = (inputs / "gray.png").read_bytes()
    answer = client.post("/predict?format=json&probabilities=true", files={"file": ("f", data)})
    assert answer.status_code == 200
    body = answer.json()
    masks = tifffile.imread(expected / "channels/gray.mask.tif")[0] > 0
    assert body["classes"] == list(card.classes)
    assert body["thresholds"] == card.output.thresholds
    for k, name in enumerate(card.classes):
        np.testing.assert_array_equal(encode.from_rle(body["masks"][name]), masks[..., k])
        assert body["fractions"][name] == pytest.approx(masks[..., k].mean())
    prob = body["probabilities"]
    raw = np.frombuffer(base64.b64decode(prob["data"]), "<f2").reshape(prob["shape"])
    np.testing.assert_array_equal(
        raw, tifffile.imread(expected / "channels/gray.prob.tif").reshape(raw.shape)
    )


def test_rle_round_trips_and_starts_with_background():
    mask = np.array([[1, 0, 0], [1, 1, 0]], bool)
    encoded = encode.rle(mask)
    assert encoded == {"size": [2, 3], "counts": [0, 2, 1, 1, 2]}
    np.testing.assert_array_equal(encode.from_rle(encoded), mask)
    assert encode.rle(np.zeros((2, 2), bool))["counts"] == [4]


@pytest.mark.parametrize("mask_format", ["channels", "index"])
def test_stack_equals_infer(client, inputs, expected, mask_format):
    data = (inputs / "stack.tif").read_bytes()
    answer = client.post(f"/predict/stack?format={mask_format}", files={"file": ("s", data)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/tiff"
    served = tifffile.imread(io.BytesIO(answer.content))
    mine = tifffile.imread(expected / f"{mask_format}/stack.mask.tif")
    assert served.shape[0] == 4
    np.testing.assert_array_equal(served, mine)


def test_stack_leaves_no_temporary_files(client, inputs, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = (inputs / "stack.tif").read_bytes()
    assert client.post("/predict/stack", files={"file": ("s", data)}).status_code == 200
    assert client.post("/predict", files={"file": ("s", data)}).status_code == 422
    assert list(tmp_path.iterdir()) == []
