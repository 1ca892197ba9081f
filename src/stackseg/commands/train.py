"""`stackseg train`: fit the model on data/prepared, write models/ and metrics/train."""

from __future__ import annotations

import argparse

from stackseg.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "An interrupted run resumes from its last finished epoch on the next call "
        "(checkpoints under paths.train_resume)."
    )


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    from stackseg.train.determinism import pin_environment

    pin_environment(cfg.train)  # portable: before TensorFlow starts, which reads it once
    from stackseg.train import stage  # TensorFlow only when actually training

    stage.run(cfg)
