"""The models `stackseg infer --interactive` offers: registry versions and DVC experiments.

1. registry versions, newest first, with their stages and the headline metrics of their
   commit (registry.listing);
2. the experiments of `dvc exp show --json` with the same metrics, read from the run
   (the workspace and commits are not listed: `--model`/`--rev` name those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from stackseg.config import Config
from stackseg.registry import listing, select
from stackseg.registry.fetch import ModelRef
from stackseg.report.dvc_cli import run_dvc


@dataclass(frozen=True)
class Choice:
    label: str  # one line: what it is and its mean test IoU
    ref: ModelRef
    metrics: dict[str, float] = field(default_factory=dict)  # listing.headline keys


def _iou(metrics: dict[str, float]) -> str:
    mean = metrics.get("mean.iou")
    return f"mean IoU {mean:.4f}" if mean is not None else "no metrics"


def version_choices(cfg: Config, repo: str) -> list[Choice]:
    return [
        Choice(
            label=f"{item.version} [{', '.join(item.stages) or 'no stage'}] "
            f"{item.commit[:7]} {_iou(item.metrics)}",
            ref=ModelRef(version=item.version),
            metrics=item.metrics,
        )
        for item in listing.list_models(cfg, repo)
    ]


def experiment_choices(cfg: Config, repo: str) -> list[Choice]:
    shown = json.loads(run_dvc(["exp", "show", "--json"], Path(repo)) or "[]")
    prefix = f"{Path(cfg.paths.evaluate_metrics).as_posix()}:"
    found = []
    for run in select.runs_of(shown if isinstance(shown, list) else []):
        if run.kind != "experiment":
            continue
        nested: dict = {}
        for key, value in run.metrics.items():
            if key.startswith(prefix):
                node = nested
                *parents, last = key[len(prefix) :].split(".")
                for part in parents:
                    node = node.setdefault(part, {})
                node[last] = value
        metrics = listing.headline(nested)
        found.append(
            Choice(
                label=f"experiment {run.name} {run.rev[:7]} {_iou(metrics)}",
                ref=ModelRef(rev=run.name),
                metrics=metrics,
            )
        )
    return found


def model_choices(cfg: Config, repo: str = ".") -> list[Choice]:
    """Registry versions first (newest first), then experiments (as dvc lists them)."""
    return version_choices(cfg, repo) + experiment_choices(cfg, repo)
