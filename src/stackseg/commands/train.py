"""`stackseg train`: fit the model on data/prepared, write models/ and metrics/train."""

from __future__ import annotations

import argparse

from stackseg.config import load_config
from stackseg.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local-workers",
        type=int,
        metavar="N",
        help="data-parallel training in N processes on this machine (Keras on JAX; "
        "train.batch_size is per worker; docs/going-big.md)",
    )
    parser.epilog = (
        "An interrupted run resumes from its last finished epoch on the next call "
        "(checkpoints under paths.train_resume). With KERAS_BACKEND=jax it trains on "
        "JAX, data-parallel when Keras's cluster variables are set (docs/going-big.md)."
    )


def run(args: argparse.Namespace) -> None:
    if args.local_workers is not None and args.local_workers < 1:
        raise ConfigError(f"--local-workers must be 1 or more, not {args.local_workers}")
    cfg = load_config(args.params)  # checked here once, before any worker starts
    from stackseg.train.determinism import pin_environment
    from stackseg.train.portable import start_tensorflow

    pin_environment(cfg.train)  # portable: before TensorFlow starts, which reads it once
    if args.local_workers is not None:
        from stackseg.train import launch

        launch.run_local(args.params, args.local_workers, verbose=args.verbose)
        return
    from stackseg.train import distributed

    if not distributed.requested():
        start_tensorflow(cfg.train)  # without its oneDNN notice (portable)
    replicas = distributed.setup() if distributed.requested() else None
    from stackseg.tracking.hooks import end_open_runs
    from stackseg.train import stage  # TensorFlow only when actually training
    from stackseg.train.portable import portable_math

    try:
        with portable_math(cfg.train):  # portable: no estimate instructions (the module's doc)
            stage.run(cfg, replicas=replicas)
    except BaseException as exc:  # Ctrl-C and SIGTERM (cli.Terminated) included
        end_open_runs(exc)
        raise
