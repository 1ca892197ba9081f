"""`stackseg summary`: the test results of the last `dvc repro` in a few readable lines."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Reads paths.evaluate_metrics (written by the evaluate stage) and names "
        "paths.evaluate_plots; `make pipeline` ends with it."
    )


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.report.summary import read_metrics, summarize

    paths = load_config(args.params).paths
    metrics_path = Path(paths.evaluate_metrics)
    print(summarize(read_metrics(metrics_path), metrics_path, Path(paths.evaluate_plots)))
