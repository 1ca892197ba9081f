"""The registry gate: pure checks on a metrics dict against params `registry`."""

from __future__ import annotations

import pytest

from stackseg.config import RegistryConfig
from stackseg.registry.gate import MetricsShapeError, failed, gate_checks

CLASSES = ["disc", "ring", "streak"]
BOUNDS = RegistryConfig(
    artifact="segmenter", min_test_iou=0.8, min_class_iou=0.6, min_margin_over_baseline=0.2
)


def metrics(mean=0.86, per_class=(0.88, 0.88, 0.82), baseline=0.10) -> dict:
    return {
        "mean": {"iou": mean, "dice": 0.9},
        "per_class": {name: {"iou": iou} for name, iou in zip(CLASSES, per_class, strict=True)},
        "baseline": {"mean": {"iou": baseline}},
    }


def names(checks) -> list[str]:
    return [check.name for check in checks]


def test_above_every_bound_passes_and_lists_each_check():
    checks = gate_checks(metrics(), BOUNDS, CLASSES)
    assert names(checks) == [
        "mean.iou",
        "per_class.disc.iou",
        "per_class.ring.iou",
        "per_class.streak.iou",
        "mean.iou - baseline.mean.iou",
    ]
    assert failed(checks) == []
    assert checks[0].line() == "mean.iou 0.8600 >= 0.8000: ok"
    assert checks[-1].value == pytest.approx(0.76)


def test_mean_below_bound_fails_that_check_only():
    checks = gate_checks(metrics(mean=0.79), BOUNDS, CLASSES)
    assert names(failed(checks)) == ["mean.iou"]
    assert failed(checks)[0].line() == "mean.iou 0.7900 < 0.8000: FAILED"


def test_one_class_below_its_bound_fails_although_the_mean_passes():
    checks = gate_checks(metrics(per_class=(0.95, 0.59, 0.95)), BOUNDS, CLASSES)
    assert names(failed(checks)) == ["per_class.ring.iou"]


def test_margin_over_the_baseline_is_checked():
    # a good mean, but the intensity threshold does almost as well
    checks = gate_checks(metrics(mean=0.86, baseline=0.70), BOUNDS, CLASSES)
    assert names(failed(checks)) == ["mean.iou - baseline.mean.iou"]
    assert failed(checks)[0].value == pytest.approx(0.16)


def test_a_value_exactly_at_the_bound_passes():
    # 0.3 - 0.1 is 0.19999999999999998 in floating point: the margin is rounded as the
    # metrics file writes its values
    bounds = BOUNDS.model_copy(update={"min_test_iou": 0.3})
    checks = gate_checks(
        metrics(mean=0.3, per_class=(0.6, 0.6, 0.6), baseline=0.1), bounds, CLASSES
    )
    assert failed(checks) == []


def test_a_missing_class_or_baseline_is_a_shape_error():
    incomplete = metrics()
    del incomplete["per_class"]["streak"]
    with pytest.raises(MetricsShapeError, match="per_class.streak.iou"):
        gate_checks(incomplete, BOUNDS, CLASSES)
    no_baseline = metrics()
    del no_baseline["baseline"]
    with pytest.raises(MetricsShapeError, match="baseline.mean.iou"):
        gate_checks(no_baseline, BOUNDS, CLASSES)
    with pytest.raises(MetricsShapeError, match="not a number"):
        gate_checks(metrics(mean="high"), BOUNDS, CLASSES)
