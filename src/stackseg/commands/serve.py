"""`stackseg serve`: the model behind an HTTP API (docs/serving.md).

1. Load params (`serve:` gives the defaults of --host, --port, --workers).
2. Choose the model as `stackseg infer` does: --model PATH, --mlflow-model URI, --rev/--stage/--version (the
   registry: fetched once here, before any worker starts), or the workspace's; its card is
   read now, so a missing or wrong model is one error line, not a server that never gets
   ready.
3. Run uvicorn on the app factory `stackseg.serve.app:app_from_env` (the settings in the
   environment, so `--workers N` processes load the same files), with JSON logs; with
   N > 1, Prometheus' multiprocess folder (`serve.metrics.shared_folder`) for them all.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from stackseg.config import load_config
from stackseg.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, help="a .keras file (card and .onnx beside it)")
    which.add_argument("--rev", help="a git revision or experiment of --repo (registry)")
    which.add_argument("--stage", help="the version in this registry stage (dev, staging, prod)")
    which.add_argument("--version", dest="model_version", help="a registered version (v1.2.0)")
    which.add_argument(
        "--mlflow-model",
        metavar="URI",
        help="a version of MLflow's registry: models:/<name>@<alias> or models:/<name>/<n>",
    )
    parser.add_argument("--repo", help="git repository of the registry (default: this one)")
    parser.add_argument("--host", help="address to bind (default: params serve.host)")
    parser.add_argument("--port", type=int, help="default: params serve.port")
    parser.add_argument("--workers", type=int, help="processes (default: params serve.workers)")


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    port = cfg.serve.port if args.port is None else args.port
    workers = cfg.serve.workers if args.workers is None else args.workers
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port: expected 0 to 65535, got {port}")
    if workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {workers}")
    from stackseg.infer import model as models
    from stackseg.serve.settings import ENV_VAR, Settings

    if args.model is not None:
        files = models.beside(args.model)
    elif args.mlflow_model:
        files = models.mlflow_model(args.mlflow_model, cfg)
    elif args.rev or args.stage or args.model_version:
        ref = models.make_ref(args.rev, args.stage, args.model_version)
        files = models.registry_model(ref, cfg, args.repo)
    else:
        files = models.workspace_model(cfg)
    models.read_model_card(files)  # fails here, with one line, rather than in each worker
    settings = Settings.for_files(Path(args.params).resolve(), _absolute(files))
    os.environ[ENV_VAR] = settings.to_env()
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # OpenCV's own lines are not JSON

    import uvicorn

    from stackseg.serve.metrics import shared_folder
    from stackseg.serve.middleware import configure_logging

    configure_logging()
    with shared_folder(workers):  # --workers N: one /metrics over all the workers
        uvicorn.run(
            "stackseg.serve.app:app_from_env",
            factory=True,
            host=args.host or cfg.serve.host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(cfg.serve.timeout_s) + 1,
        )


def _absolute(files):
    from stackseg.infer.model import ModelFiles

    return ModelFiles(
        files.keras.resolve(), files.card.resolve(), files.onnx.resolve(), files.origin
    )
