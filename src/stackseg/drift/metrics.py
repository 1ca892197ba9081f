"""The metrics of one set of frames against another (names as in metrics/drift.json):
histogram.kl / cross_entropy / psi of the pooled histograms, <column>.ks / wasserstein of
each per-frame column. One definition: calibrate and compare both call scores()."""

from __future__ import annotations

from stackseg.drift import stats
from stackseg.drift.profile import Profile

HISTOGRAM_METRICS = ("kl", "cross_entropy", "psi")
FEATURE_TESTS = ("ks", "wasserstein")


def scores(current: Profile, reference: Profile) -> dict[str, float]:
    """Every metric of `current` against `reference` (the columns both have; histogram
    metrics when both have histograms). The single definition calibration and compare use."""
    values: dict[str, float] = {}
    if current.histograms is not None and reference.histograms is not None:
        p, q = current.histogram(), reference.histogram()
        values["histogram.kl"] = stats.kl_divergence(p, q)
        values["histogram.cross_entropy"] = stats.cross_entropy(p, q)
        values["histogram.psi"] = stats.psi(p, q)
    for name, ref_values in reference.features.items():
        if name in current.features:
            ks, distance = stats.ks_and_wasserstein(current.features[name], ref_values)
            values[f"{name}.ks"] = ks
            values[f"{name}.wasserstein"] = distance
    return values
