"""`stackseg register`: register the model of the current commit in the GTO registry.

1. load params (registry: the artifact name and the gate's bounds);
2. stackseg.registry.register.register_model: refusals, the gate, the remote check, then
   the GTO tags (version, and the stage with --stage).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help="the version to register, e.g. v1.2.0")
    which.add_argument(
        "--bump",
        choices=["major", "minor", "patch"],
        default="minor",
        help="bump the latest registered version (default: minor; the first is v0.1.0)",
    )
    parser.add_argument(
        "--stage",
        help="also assign this stage (dev, staging, prod: .gto); on a registered commit: "
        "promote its version",
    )
    parser.add_argument(
        "--manual", action="store_true", help="register even below the gate (needs --reason)"
    )
    parser.add_argument("--reason", help="why a --manual registration: kept in the tag message")
    parser.add_argument(
        "--repo", default=".", help="the project's git repository (default: the current folder)"
    )
    parser.epilog = (
        "The gate reads paths.evaluate_metrics of the commit: mean.iou >= "
        "registry.min_test_iou, every class's iou >= registry.min_class_iou, mean.iou minus "
        "the baseline's >= registry.min_margin_over_baseline. Push the tags afterwards."
    )


def params_path(args: argparse.Namespace) -> Path:
    """--params, taken inside --repo when left at its default."""
    if args.params == "params.yaml" and args.repo != ".":
        return Path(args.repo) / "params.yaml"
    return Path(args.params)


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.registry.register import Request, register_model

    cfg = load_config(params_path(args))
    request = Request(
        version=args.version,
        bump=args.bump,
        stage=args.stage,
        manual=args.manual,
        reason=args.reason,
    )
    register_model(cfg, Path(args.repo).resolve(), request)
