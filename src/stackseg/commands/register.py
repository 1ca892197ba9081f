"""`stackseg register`: register the model of the current commit in the GTO registry (and/or
MLflow's: `--backend gto|mlflow|gto,mlflow`).

1. load params (registry: the artifact name and the gate's bounds; tracking.mlflow: where);
2. gto: stackseg.registry.register.register_model: refusals, the gate, the remote check,
   then the GTO tags (version, and the stage with --stage);
3. mlflow: stackseg.registry.mlflow_backend.register_mlflow: the same gate, a model version
   of the model's run, the alias of --stage (prod: champion; staging, dev: challenger).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from stackseg.errors import ConfigError

BACKENDS = ("gto", "mlflow")


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
    parser.add_argument(
        "--backend",
        default="gto",
        help="gto (default), mlflow (params tracking.mlflow.uri), or both: gto,mlflow",
    )
    parser.epilog = (
        "The gate reads paths.evaluate_metrics of the commit: mean.iou >= "
        "registry.min_test_iou, every class's iou >= registry.min_class_iou, mean.iou minus "
        "the baseline's >= registry.min_margin_over_baseline. Push the tags afterwards. "
        "MLflow (docs/mlflow.md) gates the workspace's metrics file and aliases --stage prod "
        "as champion, staging and dev as challenger."
    )


def params_path(args: argparse.Namespace) -> Path:
    """--params, taken inside --repo when left at its default."""
    if args.params == "params.yaml" and args.repo != ".":
        return Path(args.repo) / "params.yaml"
    return Path(args.params)


def backends(value: str) -> list[str]:
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BACKENDS]
    if not chosen or unknown:
        raise ConfigError(f"--backend {value}: expected gto, mlflow or gto,mlflow")
    return chosen


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.registry.register import Request, register_model

    chosen = backends(args.backend)
    if args.manual and not (args.reason or "").strip():
        raise ConfigError('--manual needs --reason "why this model is registered anyway"')
    cfg = load_config(params_path(args))
    root = Path(args.repo).resolve()
    gto_version = None
    if "gto" in chosen:
        request = Request(
            version=args.version,
            bump=args.bump,
            stage=args.stage,
            manual=args.manual,
            reason=args.reason,
        )
        gto_version = register_model(cfg, root, request).version
    if "mlflow" in chosen:
        from stackseg.registry.mlflow_backend import register_mlflow

        os.chdir(root)  # params paths are relative to the project root
        reason = args.reason if args.manual else None
        register_mlflow(cfg, root, args.stage, reason, gto_version=gto_version)
