"""Distances between two samples: of histograms (KL divergence, cross-entropy, PSI) and of
one feature's per-frame values (two-sample Kolmogorov-Smirnov statistic, Wasserstein-1).

Vectorised numpy (the threshold bootstrap calls them tens of thousands of times); the tests
check them against scipy.stats and against closed forms.
"""

from __future__ import annotations

import numpy as np

# Added to every bin before normalising: an empty bin in one histogram and not in the other
# would make KL and PSI infinite. 1e-4 of a frame's mass per bin is far below any real shift.
EPSILON = 1e-4


def smooth(histogram: np.ndarray) -> np.ndarray:
    """The histogram (any non-negative weights) with EPSILON added per bin, normalised."""
    weights = np.asarray(histogram, dtype=np.float64) + EPSILON
    return weights / weights.sum(axis=-1, keepdims=True)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats of two histograms on the same bins (smoothed): 0 when equal."""
    p, q = smooth(p), smooth(q)
    return float(np.sum(p * np.log(p / q)))


def cross_entropy(p: np.ndarray, q: np.ndarray) -> float:
    """H(p, q) = -sum p log q in nats (smoothed): the entropy of p when p equals q, and
    larger by KL(p || q) otherwise."""
    p, q = smooth(p), smooth(q)
    return float(-np.sum(p * np.log(q)))


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index sum (p - q) ln(p / q) (smoothed): KL(p||q) + KL(q||p)."""
    p, q = smooth(p), smooth(q)
    return float(np.sum((p - q) * np.log(p / q)))


def _cdfs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError("a two-sample statistic needs at least one value in each sample")
    points = np.concatenate([a, b])
    points.sort(kind="mergesort")
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    return points, cdf_a, cdf_b


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b| (0..1): 0 for equal
    samples, 1 for samples that do not overlap (scipy.stats.ks_2samp's statistic)."""
    _, cdf_a, cdf_b = _cdfs(a, b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """The Wasserstein-1 (earth mover's) distance of two samples, in their units: a sample
    shifted by d is at distance |d| (scipy.stats.wasserstein_distance)."""
    points, cdf_a, cdf_b = _cdfs(a, b)
    return float(np.sum(np.abs(cdf_a - cdf_b)[:-1] * np.diff(points)))


def ks_and_wasserstein(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(ks_statistic, wasserstein) of two samples in one pass (the bootstrap's hot path)."""
    points, cdf_a, cdf_b = _cdfs(a, b)
    gap = np.abs(cdf_a - cdf_b)
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(points)))
