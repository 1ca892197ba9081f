"""The report's first section: headline metrics base -> PR with a noise verdict each.

1. the headline values of both sides from `dvc metrics diff` (already read by the report);
2. the base commit's noise estimate from the cache (`stackseg noise`: local copy, then the
   DVC remote); none cached, or the remote unreadable, gives "no noise estimate" verdicts
   and the command that makes one;
3. one verdict per metric (stackseg.report.verdict) and a line saying what the noise is.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stackseg.errors import StacksegError
from stackseg.report.noise import NoiseEstimate, open_cache
from stackseg.report.revisions import BaseRevision
from stackseg.report.verdict import headline_metrics, headline_table, judge_all

log = logging.getLogger(__name__)


def sides(metrics_diff: dict, metrics_file: str) -> tuple[dict, dict]:
    """({key: base value}, {key: PR value}) of one metrics file in `dvc metrics diff` JSON."""
    entries = metrics_diff.get(metrics_file) or {}
    old: dict[str, float | None] = {}
    new: dict[str, float | None] = {}
    for key, entry in entries.items():
        if isinstance(entry, dict):
            for side, store in (("old", old), ("new", new)):
                value = entry.get(side)
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                store[key] = float(value) if number and value is not None else None
    return old, new


def find_estimate(cwd: Path, base: BaseRevision) -> tuple[NoiseEstimate | None, str]:
    """(estimate or None, why none) for the base commit; never raises for a remote problem."""
    try:
        cache = open_cache(cwd)
        estimate = cache.get(base.sha)
    except StacksegError as exc:
        log.warning("no noise estimate: %s", exc.problems[0])
        return None, f"the noise cache could not be read ({exc.problems[0]})"
    return estimate, "" if estimate else f"none cached for `{base.short}` in {cache.where}"


def noise_lines(
    estimate: NoiseEstimate | None, why: str, base: BaseRevision, k: float
) -> list[str]:
    if estimate is None:
        return [
            f"_No noise estimate ({why}): the verdicts need one. Make it once per base "
            f"commit where the base is checked out: `stackseg noise --base {base.short}` "
            "(N pipeline runs; cached in the DVC remote for every later report)._"
        ]
    seeds = ", ".join(str(s) for s in estimate.seeds)
    machine = f" on {estimate.machine}" if estimate.machine else ""
    return [
        f"Noise: the base `{base.short}` retrained with {len(estimate.seeds)} seeds ({seeds})"
        f"{machine}; s = their standard deviation. A change is **beyond noise** when "
        f"|change| > {k:g}·s, within noise otherwise (docs/ci.md). Base and PR count as "
        "trained on one machine type: portable results, or the base retrained on the CI "
        "runner (docs/ci.md, Base and PR on one machine)."
    ]


def headline_section_lines(
    base: BaseRevision,
    metrics_diff: dict,
    classes: list[str],
    metrics_file: str,
    k: float,
    estimate: NoiseEstimate | None,
    why: str,
) -> list[str]:
    old, new = sides(metrics_diff, metrics_file)
    rows = judge_all(
        headline_metrics(classes), old, new, estimate.spreads() if estimate else None, k
    )
    table = headline_table(rows, f"base `{base.label}`", k, (old, new))
    return [*table, "", *noise_lines(estimate, why, base, k)]
