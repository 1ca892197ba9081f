"""The per-stack percentile rule that brings uint16 and float images to 8 bits."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.prepare.scaling import (
    HISTOGRAM_BINS,
    Scaler,
    ScaleWindow,
    StackStatistics,
    scale_values,
)


def _window(frames: list[np.ndarray], low=0.1, high=99.9) -> ScaleWindow:
    stats = StackStatistics(frames[0].dtype.name, low, high)
    if stats.needs_range_pass:
        for frame in frames:
            assert stats.add_range(frame) == 0
    for frame in frames:
        stats.add_histogram(frame)
    return stats.window()


def test_uint16_window_is_the_exact_percentiles_of_the_whole_stack():
    rng = np.random.default_rng(0)
    # frames with different ranges: the window must come from all of them together
    frames = [rng.integers(100 * k, 3000 + 500 * k, (30, 40), dtype=np.uint16) for k in range(5)]
    everything = np.concatenate([f.ravel() for f in frames])
    window = _window(frames, 1.0, 99.0)
    assert window.low == np.percentile(everything, 1.0, method="lower")
    assert window.high == np.percentile(everything, 99.0, method="higher")


def test_outliers_do_not_stretch_the_window():
    frame = np.full((100, 100), 1000, dtype=np.uint16)
    frame[:50] = 2000
    frame[0, 0], frame[0, 1] = 0, 65535  # two hot/dead pixels among 10,000
    window = _window([frame])
    assert (window.low, window.high) == (1000.0, 2000.0)
    scaled = Scaler("uint16", window)(frame)
    assert scaled.dtype == np.uint8
    assert (scaled[0, 0], scaled[0, 1], scaled[99, 99], scaled[10, 10]) == (0, 255, 0, 255)


def test_float_window_is_within_one_histogram_bin_of_the_exact_percentiles():
    rng = np.random.default_rng(1)
    frames = [rng.normal(5.0, 2.0, (50, 60)).astype(np.float32) for _ in range(3)]
    everything = np.concatenate([f.ravel() for f in frames])
    window = _window(frames)
    step = (everything.max() - everything.min()) / HISTOGRAM_BINS
    assert abs(window.low - np.percentile(everything, 0.1, method="lower")) <= step * 1.001
    assert abs(window.high - np.percentile(everything, 99.9, method="higher")) <= step * 1.001


def test_nan_and_inf_are_counted_in_the_range_pass():
    frame = np.ones((10, 10), dtype=np.float64)
    frame[0, :3] = np.nan
    frame[1, 0] = np.inf
    stats = StackStatistics("float64", 0.1, 99.9)
    assert stats.add_range(frame) == 4


def test_formula_and_lookup_table_agree():
    window = ScaleWindow(100.0, 1100.0)
    values = np.arange(0, 1300, dtype=np.uint16)
    expected = np.rint(np.clip((values - 100.0) * 255 / 1000.0, 0, 255)).astype(np.uint8)
    np.testing.assert_array_equal(Scaler("uint16", window)(values), expected)
    np.testing.assert_array_equal(scale_values(values.astype(np.float32), window), expected)


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_constant_stack_becomes_zero(dtype):
    frame = np.full((8, 8), 7, dtype=dtype)
    window = _window([frame])
    assert window.low == window.high == 7
    assert not Scaler(dtype, window)(frame).any()


def test_uint8_is_kept_unchanged():
    frame = np.arange(256, dtype=np.uint8).reshape(16, 16)
    scaler = Scaler("uint8", None)
    assert scaler(frame) is frame
    assert scaler.record("uint8", 0.1, 99.9) == {"source_dtype": "uint8", "method": "none"}


def test_percentile_params_are_validated():
    from stackseg.config import config_from_dict
    from stackseg.errors import ConfigError
    from tests.conftest import tiny_params

    def prepare(**values):
        return config_from_dict(tiny_params(prepare=values))

    cfg = prepare(scale_low_percentile=1, scale_high_percentile=99)
    assert (cfg.prepare.scale_low_percentile, cfg.prepare.scale_high_percentile) == (1.0, 99.0)
    with pytest.raises(ConfigError, match="scale_low_percentile must be below"):
        prepare(scale_low_percentile=50, scale_high_percentile=50)
    with pytest.raises(ConfigError, match="scale_high_percentile"):
        prepare(scale_high_percentile=101)


def test_a_manifest_record_rebuilds_the_same_scaler():
    from stackseg.prepare.scaling import scaler_from_record

    frame = np.random.default_rng(3).integers(0, 4000, (16, 16), dtype=np.uint16)
    scaler = Scaler("uint16", _window([frame]))
    rebuilt = scaler_from_record(scaler.record("uint16", 0.1, 99.9))
    np.testing.assert_array_equal(rebuilt(frame), scaler(frame))
    assert scaler_from_record({"source_dtype": "uint8", "method": "none"}).window is None
