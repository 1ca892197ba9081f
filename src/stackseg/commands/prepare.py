"""`stackseg prepare`: raw TIFF stacks -> data/prepared/{train,val,test} jpg/png pairs + manifest.

Paths and settings come from params.yaml (`paths.raw`, `paths.prepared`, `prepare:`).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Reads paths.raw/{images,masks}/<name>.tif, writes paths.prepared. Unchanged stacks "
        "are reused from the previous output; on any problem the previous output is kept."
    )


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.prepare import stage

    stage.run(load_config(args.params))
