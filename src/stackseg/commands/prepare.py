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
    from stackseg.data.pool import start_pool

    # the workers start up while this process imports and validates the config
    with start_pool(args.params) as pool:
        from stackseg.config import load_config
        from stackseg.data.prepare import PrepareSettings, prepare

        prepare(PrepareSettings.from_config(load_config(args.params)), pool)
