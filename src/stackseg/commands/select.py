"""`stackseg select`: rank DVC experiments by a metric; `--apply` the best one.

1. `dvc exp show --json` (the project's own DVC);
2. stackseg.registry.select: flatten, resolve the metric key, rank, print the table;
3. with --apply: `dvc exp apply <winner>` (an experiment; nothing if the workspace or a
   commit is already the best).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metric",
        required=True,
        help="a metric as dvc names it: metrics/evaluate.json:mean.iou, or mean.iou",
    )
    parser.add_argument("--min", action="store_true", help="lower is better (e.g. a loss)")
    parser.add_argument("--top", type=int, default=0, help="show only the best N (0: all)")
    parser.add_argument("--apply", action="store_true", help="`dvc exp apply` the best experiment")
    parser.add_argument(
        "--repo", default=".", help="the project's folder (default: the current folder)"
    )


def run(args: argparse.Namespace) -> None:
    from stackseg.errors import StacksegError
    from stackseg.registry import select
    from stackseg.report.dvc_cli import run_dvc

    root = Path(args.repo)
    raw = run_dvc(["exp", "show", "--json"], root)
    try:
        shown = json.loads(raw or "[]")
    except json.JSONDecodeError:
        raise StacksegError("`dvc exp show --json` printed something that is not JSON") from None
    runs = select.runs_of(shown if isinstance(shown, list) else [])
    metric = select.resolve_metric(args.metric, runs)
    ranked = select.rank(runs, metric, lowest=args.min)
    shown_runs = ranked[: args.top] if args.top > 0 else ranked
    direction = "lowest" if args.min else "highest"
    print(f"{len(ranked)} runs by {metric} ({direction} first)")
    print(select.table(shown_runs, metric))
    if not args.apply:
        return
    best = select.winner_to_apply(ranked)
    if best is None:
        print(f"best: {ranked[0].name} ({ranked[0].kind}): already here, nothing to apply")
        return
    run_dvc(["exp", "apply", best.name], root)
    print(f"applied {best.name} ({best.rev[:7]}): `dvc exp apply` restored its params and outputs")
