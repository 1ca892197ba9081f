"""`stackseg select`: rank the runs of `dvc exp show --json` by one metric.

1. read `dvc exp show --json` (the workspace, each baseline commit and its experiments);
2. flatten each run's metrics to `file:dotted.key` numbers (as dvc writes them) and its
   params to `dotted.key` values;
3. resolve the metric: `metrics/evaluate.json:mean.iou`, or `mean.iou` if one file has it;
   an unknown key is one line listing the available ones;
4. rank (highest first, lowest with --min; runs without the metric are left out) and print
   a table with the params that differ between the runs;
5. `--apply`: `dvc exp apply <winner>` when the winner is an experiment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stackseg.errors import ConfigError, StacksegError

MAX_PARAM_COLUMNS = 4
# params that never tell runs apart in a table (paths and the class list)
SKIP_PARAMS = ("paths.", "classes")


@dataclass(frozen=True)
class Run:
    name: str  # experiment name, branch/commit name, or "workspace"
    rev: str
    kind: str  # workspace | baseline | experiment
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def _flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), data


def _run(entry: Mapping[str, Any], kind: str, fallback: str) -> Run | None:
    data = entry.get("data") or {}
    if entry.get("error") or not data:
        return None
    metrics = {
        f"{file}:{key}": float(value)
        for file, content in (data.get("metrics") or {}).items()
        for key, value in _flatten((content or {}).get("data") or {})
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    params = {
        key: value
        for content in (data.get("params") or {}).values()
        for key, value in _flatten((content or {}).get("data") or {})
    }
    rev = str(entry.get("rev") or data.get("rev") or "")
    return Run(str(entry.get("name") or fallback), rev, kind, metrics, params)


def runs_of(exp_show: list[dict[str, Any]]) -> list[Run]:
    """Every run of `dvc exp show --json` output: workspace, baselines, experiments."""
    found: list[Run] = []
    for entry in exp_show:
        kind = "workspace" if entry.get("rev") == "workspace" else "baseline"
        fallback = "workspace" if kind == "workspace" else str(entry.get("rev", ""))[:7]
        run = _run(entry, kind, fallback=fallback)
        if run is not None:
            found.append(run)
        for experiment in entry.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                run = _run(rev, "experiment", fallback=str(experiment.get("name") or ""))
                if run is not None:
                    found.append(run)
    return found


def resolve_metric(key: str, runs: list[Run]) -> str:
    """The `file:key` a user's metric names; ConfigError listing the keys if none or many."""
    available = sorted({name for run in runs for name in run.metrics})
    if key in available:
        return key
    matches = sorted({name for name in available if name.split(":", 1)[1] == key})
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"metric {key!r} is in several files: use one of {', '.join(matches)}")
    raise ConfigError(
        f"no metric {key!r} in `dvc exp show`; available: {', '.join(available) or 'none'}"
    )


def rank(runs: list[Run], metric: str, lowest: bool = False) -> list[Run]:
    """Runs holding `metric`, best first (highest, or lowest with `lowest`); ties keep order."""
    scored = [run for run in runs if metric in run.metrics]
    return sorted(scored, key=lambda run: run.metrics[metric], reverse=not lowest)


def differing_params(runs: list[Run]) -> list[str]:
    """Param keys whose values differ between the runs (the table's extra columns)."""
    keys = sorted({key for run in runs for key in run.params})
    keys = [key for key in keys if not key.startswith(SKIP_PARAMS)]
    return [key for key in keys if len({repr(run.params.get(key)) for run in runs}) > 1][
        :MAX_PARAM_COLUMNS
    ]


def table(ranked: list[Run], metric: str) -> str:
    """A plain-text table: rank, name, kind, rev, the metric, the differing params."""
    params = differing_params(ranked)
    header = ["#", "name", "kind", "rev", metric.split(":", 1)[1], *params]
    rows = [
        [
            str(index),
            run.name,
            run.kind,
            run.rev[:7] if run.kind != "workspace" else "-",
            f"{run.metrics[metric]:.6g}",
            *(str(run.params.get(key, "-")) for key in params),
        ]
        for index, run in enumerate(ranked, start=1)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def winner_to_apply(ranked: list[Run]) -> Run | None:
    """The best run if it is an experiment (the only kind `dvc exp apply` takes); None when
    the workspace or a commit is already the best."""
    if not ranked:
        raise StacksegError("no run has that metric: nothing to apply")
    return ranked[0] if ranked[0].kind == "experiment" else None
