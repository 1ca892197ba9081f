"""A real S3-compatible HTTP server on 127.0.0.1 for development and tests, without Docker.

    python devtools/s3server.py            # from the project root; or: make s3-dev

starts the server, creates the bucket and prints the lines to export so that `dvc push` /
`dvc pull` work against it. Two back-ends, both installed by requirements-dev.txt only:

- ``nanio`` (default): objects are plain files under ``--data-dir`` (they survive a restart)
  and every request's SigV4 signature is checked against the configured key pair, so wrong
  credentials are refused as they are by MinIO or AWS.
- ``moto``: moto's S3 server, the endpoint s3fs itself is tested against. Objects live in
  memory and any credentials are accepted.

The test-suite starts its servers through :func:`start_server` too (`from devtools.s3server
import start_server`, the project root on sys.path), so what the tests exercise is what
developers run. It lives outside src/: the installed package must not need the dev-only
back-ends.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # loopback only: this is a development server without TLS
DEFAULT_PORT = 9000  # the port of the committed remote's endpointurl (.dvc/config)
DEFAULT_BUCKET = "stackseg"
DEFAULT_REMOTE = "storage"
REGION = "us-east-1"
SERVERS = {"nanio": "nanio", "moto": "moto.server"}  # server -> module run with `python -m`


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    """A running server process (its own process group) and how to reach it."""

    kind: str
    port: int
    bucket: str
    access_key: str
    secret_key: str
    data_dir: Path | None
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client_env(self) -> dict[str, str]:
        """Environment variables that let DVC (s3fs/botocore) authenticate to this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    def stop(self, timeout: float = 10) -> None:
        """Terminate the server's whole process group (uvicorn/werkzeug may fork)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def _server_command(kind: str, port: int, data_dir: Path | None) -> list[str]:
    if kind not in SERVERS:
        raise ValueError(f"unknown S3 server {kind!r}: choose one of {', '.join(SERVERS)}")
    if importlib.util.find_spec(SERVERS[kind].split(".")[0]) is None:
        raise RuntimeError(
            f"{kind} is not installed: it is a development dependency "
            "(make install-dev, or pip install -r requirements-dev.txt)"
        )
    if kind == "nanio":
        if data_dir is None:
            raise ValueError("the nanio server needs a data directory")
        return [
            sys.executable, "-m", "nanio", "serve", "--host", HOST, "--port", str(port),
            "--data-dir", str(data_dir), "--region", REGION, "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def s3_client(endpoint: str, access_key: str, secret_key: str, timeout: float = 5):
    """A plain botocore S3 client (botocore comes with dvc[s3]), with short timeouts."""
    import botocore.config
    import botocore.session

    config = botocore.config.Config(
        connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
    )
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


def _create_bucket(server: S3Server, deadline: float) -> None:
    """Create the bucket, retrying until the server accepts connections or `deadline` passes."""
    import botocore.exceptions

    client = s3_client(server.endpoint, server.access_key, server.secret_key)
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the {server.kind} server exited with code {server.process.returncode} "
                f"before it was ready (is port {server.port} in use?)"
            )
        try:
            client.create_bucket(Bucket=server.bucket)
            return
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return
            raise
        except (
            botocore.exceptions.EndpointConnectionError,  # not listening yet
            botocore.exceptions.ConnectionClosedError,  # listening, app still starting
            botocore.exceptions.ReadTimeoutError,
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the {server.kind} server on {server.endpoint} did not answer in time"
                ) from None
            time.sleep(0.1)


def start_server(
    kind: str = "nanio",
    port: int | None = None,
    data_dir: Path | None = None,
    bucket: str = DEFAULT_BUCKET,
    access_key: str | None = None,
    secret_key: str | None = None,
    output: IO | int | None = None,
    timeout: float = 30,
) -> S3Server:
    """Start a server on 127.0.0.1 (a free port unless given), create `bucket`, return it.

    Credentials default to fresh random ones. `output` receives the server's log (a file
    or subprocess.DEVNULL; None inherits this process's stdout/stderr).
    """
    access_key = access_key or f"stackseg-{secrets.token_hex(4)}"
    secret_key = secret_key or secrets.token_urlsafe(24)
    port = port or free_port()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NANIO_ACCESS_KEY": access_key, "NANIO_SECRET_KEY": secret_key}
    process = subprocess.Popen(
        _server_command(kind, port, data_dir),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,  # own process group: stop() reaches every child
    )
    server = S3Server(kind, port, bucket, access_key, secret_key, data_dir, process)
    try:
        _create_bucket(server, time.monotonic() + timeout)
    except BaseException:
        server.stop()
        raise
    log.info("%s S3 server on %s, bucket %s", kind, server.endpoint, bucket)
    return server


def environment_lines(server: S3Server, remote: str = DEFAULT_REMOTE) -> list[str]:
    """Shell lines that point AWS tools and the project's DVC remote at `server`."""
    lines = [f"export {name}={value}" for name, value in server.client_env().items()]
    if server.port != DEFAULT_PORT:
        lines.append(f"dvc remote modify --local {remote} endpointurl {server.endpoint}")
    return lines


def _default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "stackseg" / "s3-dev"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python devtools/s3server.py",
        description="Run a loopback S3 server for `dvc push`/`dvc pull` during development.",
    )
    parser.add_argument("--server", choices=SERVERS, default="nanio", help="default: nanio")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 = any free port (default: 9000)"
    )
    parser.add_argument("--bucket", default=DEFAULT_BUCKET, help="default: stackseg")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=_default_data_dir(),
        help="where nanio keeps buckets as folders (default: ~/.cache/stackseg/s3-dev)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # Reuse the caller's key pair if exported, so a restarted server accepts the same shell.
    try:
        server = start_server(
            kind=args.server,
            port=args.port or None,
            data_dir=args.data_dir if args.server == "nanio" else None,
            bucket=args.bucket,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )
    except (RuntimeError, TimeoutError) as exc:
        print(f"s3server: {exc}", file=sys.stderr)
        return 1
    where = f", objects in {args.data_dir}" if args.server == "nanio" else ", objects in memory"
    print(f"# {args.server} S3 server on {server.endpoint}, bucket s3://{args.bucket}{where}")
    print("# run these in the shell you use for dvc (Ctrl-C here stops the server):")
    print("\n".join(environment_lines(server)), flush=True)
    # SIGTERM (e.g. from a supervisor) stops the server like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return server.process.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
