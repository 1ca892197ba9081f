"""The noise verdict on constructed metric sets: both verdicts, the edges, no estimate."""

from __future__ import annotations

import math

import pytest

from stackseg.report.headline import headline_section_lines, sides
from stackseg.report.noise import NoiseEstimate
from stackseg.report.revisions import BaseRevision
from stackseg.report.verdict import (
    BEYOND,
    NO_ESTIMATE,
    NOT_COMPARABLE,
    WITHIN,
    Headline,
    Spread,
    headline_metrics,
    judge,
    judge_all,
    lookup,
)

MEAN = Headline("mean.iou", "test mean IoU", "interval.mean_iou")


def test_spread_uses_the_sample_standard_deviation():
    spread = Spread((0.90, 0.92, 0.94))
    assert spread.mean == pytest.approx(0.92)
    assert spread.std == pytest.approx(0.02)  # N - 1 in the denominator (0.0163 with N)
    assert (spread.low, spread.high) == (0.90, 0.94)
    assert math.isnan(Spread((0.9,)).std)


@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (0.061, BEYOND),  # just over k * s = 3 * 0.02
        (-0.061, BEYOND),  # a drop counts the same
        (0.059, WITHIN),  # just under
        (0.0, WITHIN),
    ],
)
def test_change_against_k_times_the_seeds_spread(delta, verdict):
    result = judge(MEAN, 0.90, 0.90 + delta, Spread((0.90, 0.92, 0.94)), k=3.0)
    assert result.verdict == verdict
    assert result.threshold == pytest.approx(0.06)
    assert result.delta == pytest.approx(delta)


def test_a_change_inside_the_seeds_range_can_still_be_beyond_with_a_small_k():
    spread = Spread((0.90, 0.92, 0.94))
    assert judge(MEAN, 0.90, 0.93, spread, k=1.0).verdict == BEYOND  # 0.03 > 0.02
    assert judge(MEAN, 0.90, 0.93, spread, k=2.0).verdict == WITHIN  # 0.03 < 0.04


def test_seeds_that_all_agree_make_any_change_beyond_noise():
    same = Spread((0.9, 0.9, 0.9))
    assert judge(MEAN, 0.9, 0.9001, same, k=3.0).verdict == BEYOND
    assert judge(MEAN, 0.9, 0.9, same, k=3.0).verdict == WITHIN


def test_no_estimate_one_seed_or_a_missing_side():
    assert judge(MEAN, 0.9, 0.95, None, k=3.0).verdict == NO_ESTIMATE
    assert judge(MEAN, 0.9, 0.95, Spread((0.9,)), k=3.0).verdict == NO_ESTIMATE
    assert judge(MEAN, None, 0.95, Spread((0.9, 0.91)), k=3.0).verdict == NOT_COMPARABLE
    assert judge(MEAN, 0.9, None, None, k=3.0).verdict == NOT_COMPARABLE


def test_each_class_is_judged_against_its_own_spread():
    heads = headline_metrics(["disc", "ring"])
    assert [h.key for h in heads] == ["mean.iou", "per_class.disc.iou", "per_class.ring.iou"]
    base = {"mean.iou": 0.90, "per_class.disc.iou": 0.95, "per_class.ring.iou": 0.85}
    pr = {"mean.iou": 0.91, "per_class.disc.iou": 0.96, "per_class.ring.iou": 0.86}
    spreads = {
        "mean.iou": Spread((0.90, 0.905, 0.91)),  # s = 0.005: +0.01 is within 3 s
        "per_class.disc.iou": Spread((0.950, 0.951, 0.952)),  # s = 0.001: +0.01 is beyond
        "per_class.ring.iou": Spread((0.80, 0.85, 0.90)),
    }
    verdicts = [row.verdict for row in judge_all(heads, base, pr, spreads, k=3.0)]
    assert verdicts == [WITHIN, BEYOND, WITHIN]
    assert [row.verdict for row in judge_all(heads, base, pr, None, 3.0)] == [NO_ESTIMATE] * 3


def test_lookup_reads_dotted_numbers_only():
    tree = {"mean": {"iou": 0.9}, "per_class": {"a": {"iou": True}}, "x": float("nan")}
    assert lookup(tree, "mean.iou") == 0.9
    assert lookup(tree, "per_class.a.iou") is None  # a bool is not a metric
    assert lookup(tree, "x") is None and lookup(tree, "mean.dice") is None


def test_headline_section_from_a_metrics_diff():
    diff = {
        "metrics/evaluate.json": {
            "mean.iou": {"old": 0.90, "new": 0.99, "diff": 0.09},
            "per_class.a.iou": {"old": 0.90, "new": 0.901, "diff": 0.001},
        }
    }
    old, new = sides(diff, "metrics/evaluate.json")
    assert old == {"mean.iou": 0.90, "per_class.a.iou": 0.90}
    base = BaseRevision(ref="main", sha="a" * 40, has_results=True)
    estimate = NoiseEstimate(
        "a" * 40,
        (43, 44, 45),
        {"mean.iou": (0.9, 0.91, 0.92), "per_class.a.iou": (0.9, 0.91, 0.92)},
    )
    lines = headline_section_lines(base, diff, ["a"], "metrics/evaluate.json", 3.0, estimate, "")
    text = "\n".join(lines)
    assert (
        "| test mean IoU | 0.9000 | 0.9900 | +0.0900 | ±0.0300 (s 0.0100; 0.9000..0.9200)" in text
    )
    assert "**beyond noise** |" in lines[2] and lines[3].endswith("| within noise |")
    assert "3 seeds (43, 44, 45)" in text

    # evaluate's 95% intervals (metrics/evaluate.json `interval`) beside the values
    diff["metrics/evaluate.json"].update(
        {
            "interval.mean_iou.low": {"old": 0.85, "new": 0.97},
            "interval.mean_iou.high": {"old": 0.93, "new": 1.0},
        }
    )
    lines = headline_section_lines(base, diff, ["a"], "metrics/evaluate.json", 3.0, estimate, "")
    assert "| test mean IoU | 0.9000 [0.8500, 0.9300] | 0.9900 [0.9700, 1.0000] |" in lines[2]
    assert "| IoU `a` | 0.9000 | 0.9010 |" in lines[3]  # no interval for it in this diff
    missing = headline_section_lines(base, diff, ["a"], "metrics/evaluate.json", 3.0, None, "x")
    assert all(line.endswith(f"| {NO_ESTIMATE} |") for line in missing[2:4])
    assert "`stackseg noise --base aaaaaaaa`" in missing[-1]
