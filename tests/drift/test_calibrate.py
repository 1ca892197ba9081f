"""Thresholds calibrated by bootstrap: reproducible from the seed, falling with the sample
size, and holding the false-alarm rate on fresh no-drift samples."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.drift import Profile, build_reference, compare, load_reference
from stackseg.drift.calibrate import (
    SIZES,
    group_sample,
    joint_thresholds,
    null_scores,
    threshold_at,
)


def _profile(rng: np.random.Generator, stacks: int, frames: int, shift: float = 0.0) -> Profile:
    """Frames of `stacks` stacks: each stack has its own level (frames of a stack alike)."""
    level = np.repeat(rng.normal(100, 10, size=stacks), frames)
    mean = level + rng.normal(0, 3, size=level.size) + shift
    hists = np.stack([np.histogram(rng.normal(m, 20, 400), 16, (0, 256))[0] / 400 for m in mean])
    return Profile(
        {"mean": mean, "noise": rng.normal(5, 0.5, size=level.size)},
        hists,
        np.repeat(np.arange(stacks), frames),
    )


@pytest.mark.slow
def test_the_same_seed_gives_the_same_thresholds_another_seed_others(tmp_path):
    profile = _profile(np.random.default_rng(0), 20, 5)
    one = build_reference(profile, 16, 0.05, 50, seed=7, show=False)
    assert joint_thresholds(null_scores(profile, 10, 50, 7), 0.05) == {
        name: values[SIZES.index(10)] for name, values in one.thresholds.items()
    }
    assert joint_thresholds(null_scores(profile, 10, 50, 8), 0.05) != joint_thresholds(
        null_scores(profile, 10, 50, 7), 0.05
    )
    assert set(one.thresholds) == {
        "histogram.kl",
        "histogram.cross_entropy",
        "histogram.psi",
        "mean.ks",
        "mean.wasserstein",
        "noise.ks",
        "noise.wasserstein",
    }
    assert all(len(values) == len(SIZES) for values in one.thresholds.values())
    # more frames, tighter thresholds
    kl = one.thresholds["histogram.kl"]
    assert kl[SIZES.index(200)] < kl[SIZES.index(10)] < kl[SIZES.index(1)]
    # saved and loaded: the same reference
    loaded = load_reference(one.save(tmp_path / "reference.json"))
    assert loaded.thresholds == one.thresholds
    assert np.array_equal(loaded.images.histograms, profile.histograms)


@pytest.mark.slow
def test_thresholds_hold_the_false_alarm_rate_and_catch_a_shift():
    rng = np.random.default_rng(1)
    reference = build_reference(_profile(rng, 40, 5), 16, 0.1, 100, seed=0, show=False)
    alarms = sum(compare(reference, _profile(rng, 4, 5)).drifted for _ in range(40))
    assert alarms <= 10  # alpha 0.1 over the verdict: 4 expected, binomial spread
    assert compare(reference, _profile(rng, 4, 5, shift=60)).drifted


def test_whole_groups_are_drawn_and_the_last_one_cut():
    groups = np.repeat(np.arange(5), 4)
    index = group_sample(groups, 10, np.random.default_rng(0))
    assert len(index) == 10
    first = groups[index[:4]]
    assert (first == first[0]).all()  # one whole stack first


def test_threshold_interpolates_in_log_frames_and_holds_beyond_the_grid():
    values = [float(len(SIZES) - k) for k in range(len(SIZES))]
    assert threshold_at(values, 1) == values[0]
    assert values[SIZES.index(10)] > threshold_at(values, 15) > values[SIZES.index(20)]
    assert threshold_at(values, 10**6) == values[-1]
