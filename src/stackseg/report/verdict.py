"""The report's headline: test mean IoU and per-class IoU, base -> PR, and whether each change
is larger than what retraining the base with another seed does on its own.

The rule (docs/ci.md, "Beyond noise?"): with `s` the sample standard deviation of a metric
over the N seeded runs of the base revision (`stackseg noise`), a change is

    beyond noise   when |PR - base| > k * s      (k = params `report.noise_k`)
    within noise   otherwise

Why the standard deviation and this k: base and PR are each one training run, so their
difference has a standard deviation of sqrt(2) * sigma when the change does nothing; k = 3
puts the bar at about 2.1 of those, and leaves room for `s` itself being a rough estimate
from a few seeds. The seeds' min..max range is shown beside it but is not the rule: with
N = 3 a range is too easily exceeded (a fourth run falls outside the first three's range
half the time). When all seeds gave the same value (s = 0, the seed does not reach that
metric) any change at all is beyond noise, and the table says the spread is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BEYOND = "beyond noise"
WITHIN = "within noise"
NO_ESTIMATE = "no noise estimate"
NOT_COMPARABLE = "—"  # a side has no value: nothing to judge


@dataclass(frozen=True)
class Headline:
    key: str  # dotted key in the evaluate metrics file, as `dvc metrics diff` names it
    label: str  # what the table shows
    interval: str  # its 95% interval's key prefix (`<prefix>.low`, `<prefix>.high`)


def headline_metrics(classes: list[str]) -> list[Headline]:
    """Test mean IoU, then each class's IoU (the keys of metrics/evaluate.json)."""
    return [Headline("mean.iou", "test mean IoU", "interval.mean_iou")] + [
        Headline(f"per_class.{name}.iou", f"IoU `{name}`", f"interval.per_class_iou.{name}")
        for name in classes
    ]


def lookup(tree: object, dotted: str) -> float | None:
    """The number at a dotted key of a nested mapping (None when absent or not a number)."""
    value = tree
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Spread:
    """One metric over the seeded runs of the base revision."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def std(self) -> float:
        """Sample standard deviation (N - 1): the unbiased variance of a few runs."""
        if self.n < 2:
            return math.nan
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (self.n - 1))

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


@dataclass(frozen=True)
class Judged:
    headline: Headline
    base: float | None
    pr: float | None
    spread: Spread | None
    threshold: float | None  # k * s
    verdict: str

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.pr is None else self.pr - self.base


def judge(
    headline: Headline, base: float | None, pr: float | None, spread: Spread | None, k: float
) -> Judged:
    """Apply the rule of this module's docstring to one metric."""
    if base is None or pr is None:
        return Judged(headline, base, pr, spread, None, NOT_COMPARABLE)
    if spread is None or spread.n < 2:
        return Judged(headline, base, pr, spread, None, NO_ESTIMATE)
    threshold = k * spread.std
    verdict = BEYOND if abs(pr - base) > threshold else WITHIN
    return Judged(headline, base, pr, spread, threshold, verdict)


def judge_all(
    headlines: list[Headline],
    base: dict[str, float | None],
    pr: dict[str, float | None],
    spreads: dict[str, Spread] | None,
    k: float,
) -> list[Judged]:
    """One verdict per headline metric; `spreads` None = no noise estimate at all."""
    return [
        judge(h, base.get(h.key), pr.get(h.key), (spreads or {}).get(h.key), k) for h in headlines
    ]


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return NOT_COMPARABLE
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _noise_cell(row: Judged) -> str:
    if row.spread is None or row.threshold is None:
        return NOT_COMPARABLE
    s = row.spread
    return f"±{row.threshold:.4f} (s {s.std:.4f}; {s.low:.4f}..{s.high:.4f})"


def _verdict_cell(verdict: str) -> str:
    return f"**{verdict}**" if verdict == BEYOND else verdict


def _with_interval(value: float | None, side: dict[str, float | None], prefix: str) -> str:
    """`0.9512 [0.9301, 0.9688]`: the value and evaluate's 95% interval, when it has one."""
    low, high = side.get(f"{prefix}.low"), side.get(f"{prefix}.high")
    if value is None or low is None or high is None:
        return _num(value)
    return f"{_num(value)} [{low:.4f}, {high:.4f}]"


def headline_table(
    rows: list[Judged],
    base_label: str,
    k: float,
    sides: tuple[dict[str, float | None], dict[str, float | None]] = ({}, {}),
) -> list[str]:
    """Markdown: metric | base | PR | change | noise (k*s, s, seeds' range) | verdict; base
    and PR with evaluate's 95% interval in brackets where `sides` (base, PR) have one."""
    old, new = sides
    lines = [
        f"| Metric [95% interval] | {base_label} | workspace | Change "
        f"| Noise (±{k:g}·s; s; seeds' range) | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.headline.label,
            _with_interval(row.base, old, row.headline.interval),
            _with_interval(row.pr, new, row.headline.interval),
            _num(row.delta, signed=True),
            _noise_cell(row),
            _verdict_cell(row.verdict),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
