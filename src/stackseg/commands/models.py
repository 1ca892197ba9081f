"""`stackseg models`: the registry's versions and stages with their metrics.

1. load params (registry.artifact, paths.evaluate_metrics, classes);
2. stackseg.registry.listing.list_models: GTO versions and stages, each commit's metrics;
3. print a table, or JSON (--json).
"""

from __future__ import annotations

import argparse
import json

from stackseg.commands.register import params_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", default=".", help="the project's git clone (default: the current folder)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.registry.listing import list_models, table

    cfg = load_config(params_path(args))
    listed = list_models(cfg, args.repo)
    if args.json:
        print(json.dumps([item.as_json() for item in listed], indent=2))
        return
    if not listed:
        print(f"no version of {cfg.registry.artifact} registered yet: `stackseg register`")
        return
    print(table(listed, list(cfg.classes)))
