"""Per-frame features react to what they are meant to catch, and only roughly to the rest."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stackseg.drift.features import FEATURES, feature_rows, frame_features, histogram, noise_sigma


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.uniform(40, 200, size=(96, 96)), 3)
    return np.clip(image, 0, 255)


def test_a_constant_frame():
    values = frame_features(np.full((20, 30), 100, dtype=np.uint8))
    assert list(values) == list(FEATURES)
    assert values["mean"] == values["p1"] == values["p50"] == values["p99"] == 100
    assert values["std"] == values["contrast"] == values["sharpness"] == values["noise"] == 0


def test_brightness_moves_the_levels_not_the_spread():
    image = _scene()
    plain, bright = (
        frame_features(image.astype(np.uint8)),
        frame_features((image + 30).astype(np.uint8)),
    )
    assert bright["mean"] - plain["mean"] == pytest.approx(30, abs=1)
    assert bright["p50"] - plain["p50"] == pytest.approx(30, abs=1)
    assert bright["std"] == pytest.approx(plain["std"], rel=0.02)
    assert bright["contrast"] < plain["contrast"]  # same range over a higher level


def test_noise_sigma_estimates_added_gaussian_noise():
    image = _scene()
    noisy = image + np.random.default_rng(3).normal(0, 8, size=image.shape)
    assert noise_sigma(noisy) == pytest.approx(8, rel=0.15)
    assert noise_sigma(image) < 1.5


def test_blur_lowers_sharpness():
    image = (_scene() + np.random.default_rng(4).normal(0, 5, size=(96, 96))).clip(0, 255)
    blurred = ndimage.uniform_filter(image, 3)
    assert frame_features(blurred)["sharpness"] < 0.5 * frame_features(image)["sharpness"]


def test_histograms_are_normalised_on_fixed_bins_and_colour_is_averaged():
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    frame[..., 0] = 255  # mean over RGB: 85, bin 85 // 8 = 10 of 32
    hist = histogram(frame, 32)
    assert hist.shape == (32,) and hist.sum() == pytest.approx(1.0) and hist[10] == 1.0
    columns, hists = feature_rows([frame, frame[..., :1]], 32)
    assert hists.shape == (2, 32) and columns["mean"].tolist() == [85.0, 255.0]
    with pytest.raises(ValueError, match="frame"):
        frame_features(np.zeros((2, 2, 2, 2)))
