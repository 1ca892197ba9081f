"""`stackseg evaluate`: score the trained model on the test split, write metrics and plots."""

from __future__ import annotations

import argparse

from stackseg.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond --params: paths and settings come from params.yaml."""


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    # imported here: loading the model pulls in TensorFlow, which `stackseg --help` must not
    from stackseg.evaluate import stage

    stage.run(cfg)
