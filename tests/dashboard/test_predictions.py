"""The "Try the model" page's functions: the masks are `stackseg infer`'s, bad uploads are
one line naming the file, thresholds, toggles, fractions and downloads do what they say."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile

from stackseg.dashboard import predictions
from stackseg.errors import InputDataError
from stackseg.infer import model as models
from stackseg.infer import stage


@pytest.fixture(scope="module")
def model(trained, model_dir):
    from stackseg.dashboard.settings import Settings

    settings = Settings(
        str(trained.root), str(trained.root / "params.yaml"), str(model_dir / "model.keras")
    )
    return predictions.load_model(settings)


def infer_masks(model, path: Path, out: Path) -> np.ndarray:
    """What `stackseg infer` writes for `path` with the same model (channels format)."""
    options = stage.Options(inputs=[str(path)], out=out, backend="onnx", show_progress=False)
    files = models.beside(model.files.keras)
    [written] = stage.run(model.cfg, options, files)
    return tifffile.imread(written)


def test_a_raw_stack_gives_the_masks_of_stackseg_infer(model, trained, tmp_path):
    stack = sorted((trained.root / "data/raw/images").glob("*.tif"))[0]
    prediction = predictions.predict_upload(model, stack.name, stack.read_bytes(), 64)
    assert prediction.name == stack.stem and len(prediction.frames) == 4
    thresholds = predictions.default_thresholds(model.card)
    masks = [predictions.present(p, thresholds) for p in prediction.probs]
    ours = tifffile.imread(io.BytesIO(predictions.mask_tiff(masks)))
    expected = infer_masks(model, stack, tmp_path)
    assert ours.shape == expected.shape == (4, 48, 48, 3)
    np.testing.assert_array_equal(ours, expected)
    assert 0 < (ours > 0).mean() < 0.5  # the model finds objects, not everything


def test_a_test_frame_comes_with_its_ground_truth(model, settings):
    pairs = predictions.split_pairs(settings, model.cfg)
    assert len(pairs) == 16
    prediction = predictions.predict_pair(model, settings, pairs[0])
    [truth] = prediction.truth
    assert truth.shape == (48, 48, 3) and truth.dtype == bool
    masks = predictions.present(prediction.probs[0], predictions.default_thresholds(model.card))
    # the trained fixture's model scores a mean test IoU of about 0.86
    iou = (masks & truth).sum() / max(1, (masks | truth).sum())
    assert iou > 0.5, iou
    png = predictions.mask_png(masks)
    from PIL import Image

    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (48, 48, 3)
    np.testing.assert_array_equal(decoded > 127, masks)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.tif", b"II*\x00 not really a tiff", "broken.tif: "),
        ("notes.txt", b"hello", "notes.txt: not an image file"),
        ("empty.png", b"", "empty.png: the file is empty"),
        ("../../etc/x.png", b"\x89PNG\r\n\x1a\n garbage", "x.png: not a readable PNG"),
    ],
)
def test_a_bad_upload_is_one_line_naming_the_file(model, name, data, message):
    with pytest.raises(InputDataError) as caught:
        predictions.predict_upload(model, name, data, 64)
    [line] = caught.value.problems
    assert line.startswith(message), line
    assert "/tmp" not in line and "stackseg-dashboard-" not in line


def test_a_stack_over_max_frames_is_refused(model, trained):
    stack = sorted((trained.root / "data/raw/images").glob("*.tif"))[0]
    with pytest.raises(InputDataError, match=r"4 frames, the dashboard shows at most 3"):
        predictions.predict_upload(model, stack.name, stack.read_bytes(), 3)


def test_rgb_upload_to_a_gray_model_names_the_file(model):
    import imagecodecs

    png = bytes(imagecodecs.png_encode(np.zeros((16, 16, 3), np.uint8)))
    with pytest.raises(InputDataError, match=r"^rgb.png: RGB frames"):
        predictions.predict_upload(model, "rgb.png", png, 64)


def test_thresholds_toggles_and_fractions():
    probs = np.zeros((2, 2, 2), np.float32)
    probs[0, :, 0] = 0.7  # class a: top row
    probs[:, :, 1] = 0.4  # class b: everywhere at 0.4
    masks = predictions.present(probs, [0.5, 0.5])
    assert predictions.fractions(masks, ["a", "b"]) == {"a": 0.5, "b": 0.0}
    masks = predictions.present(probs, [0.8, 0.4])  # >= the threshold, as infer
    assert predictions.fractions(masks, ["a", "b"]) == {"a": 0.0, "b": 1.0}
    frame = np.full((2, 2, 1), 100, np.uint8)
    both = predictions.overlay_image(frame, predictions.present(probs, [0.5, 0.4]), [True, True])
    only_b = predictions.overlay_image(frame, predictions.present(probs, [0.5, 0.4]), [False, True])
    hidden = predictions.overlay_image(
        frame, predictions.present(probs, [0.5, 0.4]), [False, False]
    )
    assert (hidden == 100).all()  # nothing shown: the gray frame as RGB
    assert not np.array_equal(both[0, 0], only_b[0, 0])  # the top row loses class a's colour
    np.testing.assert_array_equal(both[1], only_b[1])  # the bottom row had class b only


def test_default_thresholds_come_from_the_card(model):
    import json

    output = json.loads(model.files.card.read_text())["output"]
    expected = output.get("thresholds") or [output["threshold"]] * 3
    assert predictions.default_thresholds(model.card) == expected
    per_class = [0.3, 0.5, 0.7]
    if "thresholds" in output:  # cards with one threshold per class
        update = {"thresholds": per_class}
    else:
        update, per_class = {"threshold": 0.3}, [0.3] * 3
    card = model.card.model_copy(update={"output": model.card.output.model_copy(update=update)})
    assert predictions.default_thresholds(card) == per_class


def test_upload_names_are_cleaned():
    assert predictions.safe_name("../a b/c d.tif") == "c_d.tif"
    assert predictions.safe_name("...") == "upload"


def test_small_frames_are_enlarged_by_a_whole_factor():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    big = predictions.enlarge(image, 9)
    assert big.shape == (9, 12) and big[2, 3] == 1 and big[3, 0] == 4
    assert predictions.enlarge(image, 2) is image
