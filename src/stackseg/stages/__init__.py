"""Entry points of the `stackseg` subcommands.

Each module defines `add_arguments(parser)` and `run(args)`: one short function that loads
the config, reads its section and calls the logic in the modules by concern. Keep the
top-level imports of these modules light (no TensorFlow): import heavy logic inside run().
"""
