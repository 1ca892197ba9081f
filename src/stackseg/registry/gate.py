"""The quality gate of `stackseg register`: pure checks on a metrics/evaluate.json dict.

1. mean test IoU >= registry.min_test_iou
2. every class's test IoU >= registry.min_class_iou
3. mean test IoU - the intensity-threshold baseline's mean IoU >= min_margin_over_baseline

Each check keeps its value and bound, so the command prints them all (passed or not) and a
manual override records the failed ones in the tag message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackseg.config import RegistryConfig


@dataclass(frozen=True)
class Check:
    """One gate check: `name` (as in the metrics file), its value and the bound it needs."""

    name: str
    value: float
    bound: float

    @property
    def passed(self) -> bool:
        return self.value >= self.bound

    def line(self) -> str:
        """`mean.iou 0.8612 >= 0.8000: ok` or `... < ...: FAILED`."""
        sign, verdict = (">=", "ok") if self.passed else ("<", "FAILED")
        return f"{self.name} {self.value:.4f} {sign} {self.bound:.4f}: {verdict}"


class MetricsShapeError(ValueError):
    """The metrics dict lacks a value the gate reads (an old or foreign metrics file)."""


def _number(metrics: Mapping[str, Any], dotted: str) -> float:
    node: Any = metrics
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise MetricsShapeError(f"no `{dotted}` in the metrics")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise MetricsShapeError(f"`{dotted}` is not a number: {node!r}")
    return float(node)


def gate_checks(
    metrics: Mapping[str, Any], registry: RegistryConfig, classes: list[str]
) -> list[Check]:
    """The checks of the gate in order (mean, each class, margin); MetricsShapeError if the
    metrics lack a value. `classes` are the project's (params `classes`)."""
    mean = _number(metrics, "mean.iou")
    checks = [Check("mean.iou", mean, registry.min_test_iou)]
    checks += [
        Check(
            f"per_class.{name}.iou",
            _number(metrics, f"per_class.{name}.iou"),
            registry.min_class_iou,
        )
        for name in classes
    ]
    baseline = _number(metrics, "baseline.mean.iou")
    # rounded as the metrics file writes its values (6 places): 0.3 - 0.1 is 0.19999999999999998
    margin = round(mean - baseline, 6)
    checks.append(Check("mean.iou - baseline.mean.iou", margin, registry.min_margin_over_baseline))
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.passed]
