"""`stackseg models`: registered versions and stages with each commit's headline metrics.

1. the versions of the artifact, with their current stages (GTO, registry.tags);
2. for each, the metrics file of THAT commit (git show <commit>:metrics/evaluate.json):
   mean test IoU and each class's, and the baseline's mean (missing: shown as such);
3. a table, or JSON with --json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackseg.config import Config
from stackseg.errors import StacksegError
from stackseg.registry import tags, workspace


@dataclass(frozen=True)
class Listed:
    version: str
    stages: list[str]
    commit: str
    date: str
    # mean.iou, per_class.<c>.iou, baseline.mean.iou: the headline figures (empty: no file)
    metrics: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """mean.iou, per_class.<c>.iou and baseline.mean.iou of an evaluate metrics dict."""
    found: dict[str, float] = {}
    mean = (metrics.get("mean") or {}).get("iou")
    if isinstance(mean, int | float):
        found["mean.iou"] = float(mean)
    for name, values in (metrics.get("per_class") or {}).items():
        if isinstance(values, dict) and isinstance(values.get("iou"), int | float):
            found[f"per_class.{name}.iou"] = float(values["iou"])
    baseline = ((metrics.get("baseline") or {}).get("mean") or {}).get("iou")
    if isinstance(baseline, int | float):
        found["baseline.mean.iou"] = float(baseline)
    return found


def list_models(cfg: Config, repo: str = ".") -> list[Listed]:
    """Every registered version, newest first, with its stages and headline metrics.

    `repo` must be a local clone here (metrics are read with git show; clone a URL first).
    """
    if not Path(repo).is_dir():
        raise StacksegError(f"{repo}: not a folder: `stackseg models` reads a local clone")
    repo = str(Path(repo).resolve())  # named in errors: "/path is not a git repository"
    listed = []
    for item in tags.versions(repo, cfg.registry.artifact):
        try:
            metrics = workspace.metrics_at(repo, item.commit, Path(cfg.paths.evaluate_metrics))
        except StacksegError:  # a version registered without a metrics file (--manual)
            metrics = {}
        listed.append(
            Listed(
                version=item.version,
                stages=item.stages,
                commit=item.commit,
                date=item.created_at,
                metrics=headline(metrics),
            )
        )
    return listed


def table(listed: list[Listed], classes: list[str]) -> str:
    """Version, stages, commit, date, mean IoU, each class's IoU, the baseline's mean."""
    header = ["version", "stages", "commit", "registered", "mean iou"]
    header += [f"{name} iou" for name in classes] + ["baseline"]
    keys = ["mean.iou", *(f"per_class.{name}.iou" for name in classes), "baseline.mean.iou"]
    rows = [
        [
            item.version,
            ",".join(item.stages) or "-",
            item.commit[:7],
            item.date[:19],
            *(f"{item.metrics[key]:.4f}" if key in item.metrics else "-" for key in keys),
        ]
        for item in listed
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
