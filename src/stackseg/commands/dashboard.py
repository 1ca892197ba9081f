"""`stackseg dashboard`: the Streamlit dashboard (docs/dashboard.md).

1. Load params (`dashboard:` gives the defaults of --host and --port).
2. The settings: this folder (the project), the params file, the model (--model PATH,
   else the workspace's) and the drift reference (--reference PATH, else the model's),
   absolute, in the environment of the Streamlit process
   (`stackseg.dashboard.settings`).
3. `python -m streamlit run` on the packaged entry script (`stackseg.dashboard.app`),
   bound to 127.0.0.1 unless --host says otherwise, headless (no browser opened), no usage
   statistics sent, no file watcher; it runs until Ctrl-C (or SIGTERM), which stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from stackseg.config import load_config
from stackseg.errors import ConfigError

# Streamlit options that keep the dashboard local and quiet: no browser tab opened, no
# usage statistics, not a development server, no file watcher
STREAMLIT_OPTIONS = (
    ("server.headless", "true"),
    ("browser.gatherUsageStats", "false"),
    ("global.developmentMode", "false"),
    ("server.fileWatcherType", "none"),
    ("server.runOnSave", "false"),
    ("client.toolbarMode", "minimal"),
    # an unexpected failure shows its type on the page, the traceback only in the terminal
    ("client.showErrorDetails", "type"),
    # no welcome banner: for --host 0.0.0.0 it would look up this machine's public address
    # on the internet (net_util.get_external_ip); the command prints the address itself
    ("logger.hideWelcomeMessage", "true"),
)
STOP_WAIT_S = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default: params dashboard.host)")
    parser.add_argument("--port", type=int, help="default: params dashboard.port")
    parser.add_argument(
        "--model",
        type=Path,
        help="a .keras file (card and .onnx beside it); default: the workspace's",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="a drift reference.json; default: the one beside --model, else params "
        "paths.drift_reference",
    )


def _existing(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(f"{path}: not found ({option})")
    return str(path.resolve())


def streamlit_command(host: str, port: int) -> list[str]:
    """`python -m streamlit run <entry script>` with the dashboard's options."""
    from stackseg.dashboard import app

    command = [sys.executable, "-m", "streamlit", "run", str(Path(app.__file__).resolve())]
    options = (*STREAMLIT_OPTIONS, ("server.address", host), ("server.port", str(port)))
    for name, value in options:
        command.append(f"--{name}={value}")
    return command


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.params)
    host = args.host or cfg.dashboard.host
    port = cfg.dashboard.port if args.port is None else args.port
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port: expected 1 to 65535, got {port}")
    from stackseg.dashboard.settings import ENV_VAR, Settings

    keras = _existing(args.model, "--model names a .keras file")
    reference = _existing(args.reference, "--reference names a drift reference.json")
    settings = Settings(str(Path.cwd()), str(Path(args.params).resolve()), keras, reference)
    env = {
        **os.environ,
        ENV_VAR: settings.to_env(),
        "OPENCV_LOG_LEVEL": os.environ.get("OPENCV_LOG_LEVEL", "ERROR"),
    }
    print(f"stackseg dashboard: http://{host}:{port} (Ctrl-C stops it)", file=sys.stderr)
    child = subprocess.Popen(streamlit_command(host, port), env=env)
    try:
        code = child.wait()
    except BaseException:  # Ctrl-C or SIGTERM (cli.Terminated): stop Streamlit too
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        raise
    if code != 0:
        from stackseg.errors import StacksegError

        raise StacksegError(f"streamlit exited with {code} (its messages are above)")
