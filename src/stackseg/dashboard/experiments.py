"""The "Experiments and versions" page's work, as plain functions (tested without Streamlit).

1. `experiment_runs`: `dvc exp show --json` in the project (DVC's documented JSON, through
   `report.dvc_cli` with a timeout), parsed by `registry.select.runs_of` into the workspace,
   the baseline commits and their experiments; DVC or git missing, or not a DVC project,
   is one StacksegError line saying so.
2. `version_rows`: the registry's versions (`registry.listing.list_models`: GTO tags, each
   commit's evaluate metrics) and each version's params.yaml (git show), so versions can
   be compared like experiments.
3. `table`: rows of name, kind, rev, the runs' common metrics and the params that differ
   between them; `metric_series`: one chosen metric across the runs, for the chart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackseg.config import Config
from stackseg.errors import StacksegError
from stackseg.registry import select

# `dvc exp show` reads every experiment's files: generous, but a hung DVC must not hang
# the page forever
EXP_SHOW_TIMEOUT_S = 120.0
SKIP_PARAMS = select.SKIP_PARAMS


@dataclass(frozen=True)
class Row:
    """One run or version: what it is, its metrics (`file:key` or headline keys), params."""

    name: str
    kind: str  # workspace | baseline | experiment | version
    rev: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)


def _unavailable(reason: str) -> StacksegError:
    return StacksegError(f"experiments unavailable: {reason}")


def experiment_runs(root: Path, timeout: float = EXP_SHOW_TIMEOUT_S) -> list[Row]:
    """The runs of `dvc exp show --json` in `root`; StacksegError (one line) when DVC, git
    or the project cannot answer."""
    from stackseg.report.dvc_cli import run_dvc

    if not (root / ".dvc").is_dir():
        raise _unavailable(f"{root} is not a DVC project (no .dvc folder): run `dvc init`")
    try:
        text = run_dvc(["exp", "show", "--json"], root, timeout=timeout)
    except StacksegError as exc:
        raise _unavailable(exc.problems[0]) from None
    except FileNotFoundError as exc:  # the interpreter itself is gone: nothing to run DVC with
        raise _unavailable(f"DVC cannot be started ({exc.strerror})") from None
    try:
        shown = json.loads(text or "[]")
    except json.JSONDecodeError:
        raise _unavailable("`dvc exp show --json` printed something that is not JSON") from None
    runs = select.runs_of(shown if isinstance(shown, list) else [])
    return [Row(run.name, run.kind, run.rev, run.metrics, run.params) for run in runs]


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): data}


def params_at(root: Path, commit: str, params_file: str = "params.yaml") -> dict[str, Any]:
    """params.yaml of `commit`, flattened to dotted keys ({} when it has none)."""
    from stackseg.registry.workspace import file_at

    text = file_at(root, commit, params_file)
    if text is None:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return _flatten(data) if isinstance(data, dict) else {}


def version_rows(cfg: Config, root: Path) -> list[Row]:
    """The registry's versions, newest first, with their headline metrics (named as `dvc
    exp show` names them, `metrics/evaluate.json:mean.iou`, so one chart holds both) and
    params."""
    from stackseg.registry.listing import list_models

    prefix = f"{Path(cfg.paths.evaluate_metrics).as_posix()}:"
    return [
        Row(
            item.version,
            "version",
            item.commit,
            {prefix + key: value for key, value in item.metrics.items()},
            params_at(root, item.commit),
            list(item.stages),
        )
        for item in list_models(cfg, str(root))
    ]


def metric_names(rows: Sequence[Row]) -> list[str]:
    """Every metric some row has, sorted (the chart's choices)."""
    return sorted({name for row in rows for name in row.metrics})


def short_metric(name: str) -> str:
    """`metrics/evaluate.json:mean.iou` -> `evaluate.json:mean.iou` (a column header)."""
    file, sep, key = name.rpartition(":")
    return f"{Path(file).name}{sep}{key}" if sep else name


def differing_params(rows: Sequence[Row]) -> list[str]:
    """Param keys whose values differ between the rows (paths and the class list aside)."""
    keys = sorted({key for row in rows for key in row.params})
    keys = [key for key in keys if not key.startswith(SKIP_PARAMS)]
    return [key for key in keys if len({repr(row.params.get(key)) for row in rows}) > 1]


def default_metric(names: Sequence[str]) -> str | None:
    """The headline metric (mean test IoU) when present, else the first."""
    for name in names:
        if name == "mean.iou" or name.endswith(":mean.iou"):
            return name
    return names[0] if names else None


def table(rows: Sequence[Row], metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One dict per row: name, kind, rev (7), stages, the metrics, the differing params."""
    chosen = metric_names(rows) if metrics is None else list(metrics)
    params = differing_params(rows)
    out = []
    for row in rows:
        record: dict[str, Any] = {
            "name": row.name,
            "kind": row.kind,
            "rev": row.rev[:7] if row.kind != "workspace" else "-",
        }
        if row.kind == "version":
            record["stages"] = ", ".join(row.stages) or "-"
        record.update({short_metric(m): row.metrics.get(m) for m in chosen})
        record.update({key: _cell(row.params.get(key)) for key in params})
        out.append(record)
    return out


def _cell(value: Any) -> Any:
    """A param value as a table cell: lists and mappings as text (one column type)."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def metric_series(rows: Sequence[Row], metric: str) -> dict[str, float]:
    """`metric` per row that has it, labelled `name (rev)`; rows without it are left out."""
    series: dict[str, float] = {}
    for row in rows:
        if metric in row.metrics:
            label = row.name if row.kind == "workspace" else f"{row.name} ({row.rev[:7]})"
            series[label] = row.metrics[metric]
    return series
