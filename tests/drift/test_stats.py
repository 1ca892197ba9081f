"""The drift statistics on known distributions: identical -> 0, known shifts -> known values,
and agreement with scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from stackseg.drift import stats


def test_identical_samples_and_histograms_score_zero():
    rng = np.random.default_rng(0)
    sample = rng.normal(size=500)
    hist = rng.random(32)
    assert stats.ks_statistic(sample, sample) == 0.0
    assert stats.wasserstein(sample, sample) == 0.0
    assert stats.kl_divergence(hist, hist) == pytest.approx(0.0, abs=1e-12)
    assert stats.psi(hist, hist) == pytest.approx(0.0, abs=1e-12)
    # cross-entropy of a histogram with itself is its entropy
    p = stats.smooth(hist)
    assert stats.cross_entropy(hist, hist) == pytest.approx(-np.sum(p * np.log(p)))


def test_a_shift_of_d_is_at_wasserstein_distance_d_and_disjoint_samples_at_ks_1():
    sample = np.random.default_rng(1).uniform(0, 10, size=300)
    assert stats.wasserstein(sample + 2.5, sample) == pytest.approx(2.5)
    assert stats.ks_statistic(sample + 20, sample) == 1.0


def test_histogram_metrics_match_closed_forms():
    # two bins: p = (1/2, 1/2), q = (1/4, 3/4) (EPSILON smoothing moves them by < 1e-4)
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert stats.kl_divergence(p, q) == pytest.approx(kl, abs=1e-3)
    assert stats.cross_entropy(p, q) == pytest.approx(
        -0.5 * math.log(0.25) - 0.5 * math.log(0.75), abs=1e-3
    )
    assert stats.psi(p, q) == pytest.approx(stats.kl_divergence(p, q) + stats.kl_divergence(q, p))
    # an empty bin does not make them infinite
    assert math.isfinite(stats.kl_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])))


def test_ks_and_wasserstein_agree_with_scipy():
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = rng.normal(size=rng.integers(1, 60)), rng.normal(0.3, 2, size=rng.integers(1, 60))
        assert stats.ks_statistic(a, b) == pytest.approx(scipy_stats.ks_2samp(a, b).statistic)
        assert stats.wasserstein(a, b) == pytest.approx(scipy_stats.wasserstein_distance(a, b))
    with pytest.raises(ValueError, match="at least one value"):
        stats.ks_statistic(np.array([]), np.array([1.0]))
