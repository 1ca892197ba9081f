"""Entry points of the `stackseg` subcommands.

Each module defines `add_arguments(parser)` and `run(args)`: one short function that loads
the config and calls the stage package's orchestrator (`stackseg.<stage>.stage.run`). Keep
the top-level imports of these modules light (no TensorFlow): import heavy logic inside run().
"""
