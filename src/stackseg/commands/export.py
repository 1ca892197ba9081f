"""`stackseg export`: models/model.onnx from the Keras model, checked for parity on the test
split, with its figures in metrics/export.json (DVC stage `export`)."""

from __future__ import annotations

import argparse

from stackseg.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond --params: paths and settings come from params.yaml."""


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    from stackseg.train.determinism import pin_environment
    from stackseg.train.portable import start_tensorflow

    # train.reproducibility portable: converted and checked as training ran, so that the
    # batch-norm constants TensorFlow folds into model.onnx and the Keras side of the parity
    # check have the same bytes on every CPU (docs/reproducibility.md)
    pin_environment(cfg.train, if_started="skip")
    start_tensorflow(cfg.train)  # without its oneDNN notice (portable)
    # imported here: the conversion pulls in TensorFlow, which `stackseg --help` must not
    from stackseg.export import stage
    from stackseg.train.portable import portable_math

    with portable_math(cfg.train):
        stage.run(cfg)
