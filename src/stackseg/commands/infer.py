"""`stackseg infer INPUT... --out DIR`: segment new images and TIFF stacks.

1. Load params (the `infer:` section gives the defaults of --backend, --batch-size,
   --threads; `prepare:` the scaling percentiles).
2. Choose the model: --model PATH, --rev/--stage/--version (the registry), --mlflow-model
   (MLflow's registry), --interactive (a picker over the registry's versions and
   experiments), or the workspace's.
3. Run `stackseg.infer.stage` (inputs, backend, predict, outputs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stackseg.config import load_config
from stackseg.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="TIFF stacks, PNG/JPEG images, or folders"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, help="a .keras file (card and .onnx beside it)")
    which.add_argument("--rev", help="a git revision or experiment of --repo (registry)")
    which.add_argument("--stage", help="the version in this registry stage (dev, staging, prod)")
    which.add_argument("--version", dest="model_version", help="a registered version (v1.2.0)")
    which.add_argument(
        "--mlflow-model",
        metavar="URI",
        help="a version of MLflow's registry: models:/<name>@<alias> or models:/<name>/<n>",
    )
    which.add_argument(
        "--interactive", action="store_true", help="pick a version or experiment from a table"
    )
    parser.add_argument("--repo", help="git repository of the registry (default: this one)")
    parser.add_argument(
        "--backend", choices=("onnx", "keras"), help="default: params infer.backend"
    )
    parser.add_argument(
        "--format",
        choices=("channels", "index"),
        default="channels",
        help="mask pages: one 0/255 channel per class (default) or class indices",
    )
    parser.add_argument("--png", action="store_true", help="also one mask PNG per frame")
    parser.add_argument("--overlays", action="store_true", help="also one overlay PNG per frame")
    parser.add_argument(
        "--probabilities", action="store_true", help="also the probabilities (float16 TIFF)"
    )
    parser.add_argument("--batch-size", type=int, help="default: params infer.batch_size")
    parser.add_argument("--threads", type=int, help="backend threads, 0 = all cores")


def _positive(value: int | None, name: str, minimum: int) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value}")


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    _positive(args.batch_size, "--batch-size", 1)
    _positive(args.threads, "--threads", 0)
    # imported here: the backends pull in onnxruntime or TensorFlow
    from stackseg.infer import model as models
    from stackseg.infer import stage

    if args.model is not None:
        files = models.beside(args.model)
    elif args.mlflow_model:
        files = models.mlflow_model(args.mlflow_model, cfg)
    elif args.rev or args.stage or args.model_version:
        ref = models.make_ref(args.rev, args.stage, args.model_version)
        files = models.registry_model(ref, cfg, args.repo)
    elif args.interactive:
        from stackseg.infer.picker import pick

        choice = pick(models.model_choices(cfg, args.repo))
        files = models.registry_model(choice.ref, cfg, args.repo)
    else:
        files = models.workspace_model(cfg)
    options = stage.Options(
        inputs=list(args.inputs),
        out=args.out,
        backend=args.backend or cfg.infer.backend,
        format=args.format,
        png=args.png,
        overlays=args.overlays,
        probabilities=args.probabilities,
        batch_size=args.batch_size or cfg.infer.batch_size,
        threads=cfg.infer.threads if args.threads is None else args.threads,
    )
    stage.run(cfg, options, files)
