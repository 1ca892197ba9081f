"""Predictions are equivariant to horizontal and vertical flips and 90-degree rotations.

The demo objects have no preferred orientation and training augments with flips and rot90,
so predicting a transformed frame and transforming back must give the prediction of the
frame itself. A U-Net is not equivariant by construction (its kernels are learned, not
symmetric); this is learned behaviour, so it is checked within tolerances, measured on the
fixture's model (tests/trained.py) over its 16 test frames of 48 x 48 x 3 classes:

  transform  mask agreement  mask IoU  |p - p'| mean  |p - p'| max
  hflip      0.9919          0.888     0.0099         0.95
  vflip      0.9917          0.884     0.0100         0.96
  rot90      0.9884          0.842     0.0135         0.97
  rot180     0.9893          0.851     0.0126         0.97
  rot270     0.9905          0.867     0.0115         0.97

(mask agreement: pixels x classes on the same side of the card's threshold; mask IoU: of
the two thresholded masks, i.e. agreement on the objects, which cover only ~7 % of pixels.)
A 99 % agreement bound would fail the rotations of this model; a better-trained one gets
closer (the 8-filter candidate of conftest.py agreed on only 98.5-98.7 %), but not within
the fixture's time budget, so agreement is bounded at 98 %.
The max is near 1 for every transform: a few boundary pixels flip from one side of the
threshold to the other, so it is no useful bound. The tolerances below leave room for other
platforms; a prediction that is *not* transformed back (wrong geometry) disagrees with a
mean of about 0.125, ten times the measured value, and `test_tolerances_catch_a_wrong_inverse`
checks that the bounds do reject it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from stackseg.contracts import read_card, read_manifest

MIN_MASK_AGREEMENT = 0.98  # fraction of pixels x classes on the same side of the threshold
MAX_MEAN_ABS_DIFF = 0.03  # mean |probability difference| over pixels x classes
MIN_FOREGROUND_IOU = 0.75  # IoU of the two thresholded masks: agreement on the objects
FRAMES = 16  # the whole test split of the fixture

Transform = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]
# (forward, inverse) on (N, H, W, C) batches
TRANSFORMS: dict[str, Transform] = {
    "hflip": (lambda a: np.flip(a, 2), lambda a: np.flip(a, 2)),
    "vflip": (lambda a: np.flip(a, 1), lambda a: np.flip(a, 1)),
    **{
        f"rot{90 * k}": (
            lambda a, k=k: np.rot90(a, k, axes=(1, 2)),
            lambda a, k=k: np.rot90(a, -k, axes=(1, 2)),
        )
        for k in (1, 2, 3)
    },
}


@pytest.fixture(scope="module")
def predictor(trained):
    """(batch of test frames as model input, predict function, threshold)."""
    from stackseg.models import load_model, to_model_input

    card = read_card(trained.path("model_card"))
    manifest = read_manifest(trained.path("prepared"))
    multiple, channels = card.input.size_multiple, card.input.channels
    # whole frames go through the model only if their size is a multiple of its own
    pairs = [
        pair
        for pair in manifest.split_pairs("test")
        if pair.height % multiple == pair.width % multiple == 0
    ][:FRAMES]
    assert len(pairs) == FRAMES, "the fixture's frames must fit the model's size multiple"
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    images = []
    for pair in pairs:
        image = cv2.imread(str(trained.path("prepared") / pair.image), flag)
        images.append(image[..., None] if channels == 1 else image[..., ::-1])
    batch = to_model_input(np.stack(images))
    model = load_model(trained.path("model"))

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model(np.ascontiguousarray(x), training=False))

    return batch, predict, card.output.threshold_array()


def _compare(p: np.ndarray, q: np.ndarray, threshold: float) -> dict[str, float]:
    a, b = p > threshold, q > threshold
    diff = np.abs(p - q)
    return {
        "agreement": float((a == b).mean()),
        "mean_abs": float(diff.mean()),
        "max_abs": float(diff.max()),
        "foreground_iou": float((a & b).sum() / max((a | b).sum(), 1)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_prediction_is_equivariant(predictor, name):
    batch, predict, threshold = predictor
    forward, inverse = TRANSFORMS[name]
    reference = predict(batch)
    assert (reference > threshold).any(), "the model predicts no object: nothing to compare"
    seen = _compare(reference, inverse(predict(forward(batch))), threshold)
    print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in seen.items()))
    assert seen["agreement"] >= MIN_MASK_AGREEMENT, seen
    assert seen["mean_abs"] <= MAX_MEAN_ABS_DIFF, seen
    assert seen["foreground_iou"] >= MIN_FOREGROUND_IOU, seen


@pytest.mark.slow
def test_tolerances_catch_a_wrong_inverse(predictor):
    """Forgetting to transform back (or rotating the wrong way) must fail the bounds."""
    batch, predict, threshold = predictor
    reference = predict(batch)
    for name in ("rot90", "hflip"):
        forward, _ = TRANSFORMS[name]
        seen = _compare(reference, predict(forward(batch)), threshold)
        assert seen["mean_abs"] > 2 * MAX_MEAN_ABS_DIFF, (name, seen)
        assert seen["foreground_iou"] < MIN_FOREGROUND_IOU, (name, seen)
    # rotating back the wrong way: rot90 then rot90 again is rot180, not the identity
    forward, _ = TRANSFORMS["rot90"]
    seen = _compare(reference, forward(predict(forward(batch))), threshold)
    assert seen["mean_abs"] > 2 * MAX_MEAN_ABS_DIFF, seen
