"""`stackseg drift`: are these frames like the training data? (docs/drift.md)

1. Load params (`drift:` section; paths.drift_reference, drift_metrics, drift_plots).
2. `--build`: write the reference profile (the dvc stage `reference`) and stop.
3. Otherwise choose the reference: --reference PATH, a registry version's
   (--rev/--stage/--version, fetched with the model), or the workspace's.
4. Profile the frames of the INPUTs (images, TIFF stacks, folders) or of `--split`, compare,
   write the metrics file and plots (--out DIR: DIR/drift.json and DIR/plots/).
5. Print the verdict; with --fail-on-drift, drift exits 1 with one line naming the metrics.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stackseg.config import Config, load_config
from stackseg.errors import ConfigError, StacksegError

log = logging.getLogger(__name__)


class DriftDetected(StacksegError):
    """--fail-on-drift and the frames drifted (exit 1, for cron and CI)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="TIFF stacks, PNG/JPEG images, or folders"
    )
    parser.add_argument(
        "--split", choices=("train", "val", "test"), help="a split of the prepared data instead"
    )
    parser.add_argument(
        "--build",
        action="store_true",
        help="write the reference profile (training split + test predictions) and stop",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--reference", type=Path, help="a reference.json (default: params)")
    which.add_argument("--rev", help="the reference of a git revision or experiment (registry)")
    which.add_argument("--stage", help="the reference of the version in this registry stage")
    which.add_argument("--version", dest="model_version", help="a registered version's")
    parser.add_argument("--repo", help="git repository of the registry (default: this one)")
    parser.add_argument("--backend", choices=("onnx", "keras"), help="--build: the model's")
    parser.add_argument(
        "--out", type=Path, help="write DIR/drift.json and DIR/plots/ (default: params paths)"
    )
    parser.add_argument(
        "--fail-on-drift", action="store_true", help="exit 1 when the frames drifted"
    )


def _reference_path(args: argparse.Namespace, cfg: Config) -> Path | None:
    if not (args.rev or args.stage or args.model_version):
        return args.reference
    from stackseg.registry.fetch import ModelRef, fetch_model

    ref = ModelRef(rev=args.rev, stage=args.stage, version=args.model_version)
    fetched = fetch_model(ref, cfg, args.repo or ".")
    if fetched.reference is None:
        raise StacksegError(
            f"{ref.describe()} (commit {fetched.commit[:7]}) has no drift reference "
            f"({Path(cfg.paths.drift_reference).as_posix()} is not in its dvc.lock)"
        )
    return fetched.reference


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    from stackseg.drift import stage

    if args.build:
        if args.inputs or args.split:
            raise ConfigError("--build takes no INPUT and no --split")
        stage.build(cfg, args.backend or cfg.infer.backend)
        return
    if bool(args.inputs) == bool(args.split):
        raise ConfigError("give INPUT files or folders, or --split, or --build (one of them)")
    reference = stage.reference_for(cfg, _reference_path(args, cfg))
    if args.split:
        current = stage.split_profile(cfg, args.split, reference.bins)
    else:
        current = stage.files_profile(cfg, list(args.inputs), reference.bins)
    if not current.frames:
        raise StacksegError("no frames in the inputs")
    metrics = Path(cfg.paths.drift_metrics) if args.out is None else args.out / "drift.json"
    plots = Path(cfg.paths.drift_plots) if args.out is None else args.out / "plots"
    report = stage.check(reference, current, metrics, plots)
    total = len(report.metrics)
    if report.drifted:
        worst = sorted(report.metrics, key=lambda m: -m.ratio)
        named = ", ".join(f"{m.name} {m.score:.3g} > {m.threshold:.3g}" for m in worst if m.drifted)
        line = f"drift in {len(report.drifted_metrics)} of {total} metrics ({report.frames} frames): {named}"
        if args.fail_on_drift:
            raise DriftDetected(f"{line}; see {metrics}")
        print(f"DRIFT: {line}")
    else:
        print(f"no drift: {total} metrics within their thresholds ({report.frames} frames)")
    print(f"wrote {metrics} and {plots}/")
