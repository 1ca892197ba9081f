"""`stackseg evaluate`: score the trained model on the test split, write metrics and plots."""

from __future__ import annotations

import argparse

from stackseg.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond --params: paths and settings come from params.yaml."""


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    from stackseg.train.determinism import pin_environment
    from stackseg.train.portable import start_tensorflow

    # train.reproducibility portable: the test predictions are pinned as training is (kernels,
    # instruction set, threads, no estimate instructions), so that metrics/evaluate.json and
    # plots/ have the same bytes on every CPU
    pin_environment(cfg.train, if_started="skip")
    start_tensorflow(cfg.train)  # without its oneDNN notice (portable)
    # imported here: loading the model pulls in TensorFlow, which `stackseg --help` must not
    from stackseg.evaluate import stage
    from stackseg.train.portable import portable_math

    with portable_math(cfg.train):
        stage.run(cfg)
