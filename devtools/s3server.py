"""A real S3-compatible HTTP server on 127.0.0.1 for development and tests, without Docker.

    python devtools/s3server.py            # from the project root; or: make s3-dev

starts the server, creates the bucket and prints the lines to export so that `dvc push` /
`dvc pull` work against it. Two back-ends, both installed by requirements-dev.txt only:

- ``nanio`` (default): objects are plain files under ``--data-dir`` (they survive a restart)
  and every request's SigV4 signature is checked against the configured key pair, so wrong
  credentials are refused as they are by MinIO or AWS.
- ``moto``: moto's S3 server, the endpoint s3fs itself is tested against. Objects live in
  memory and any credentials are accepted.

The server process dies with the process that started it, even by kill -9 (Linux), so it
never keeps the port after its wrapper is gone; a port already taken is refused up front
(PortInUseError) rather than answered by the other server.

The test-suite starts its servers through :func:`start_server` too (`from devtools.s3server
import start_server`, the project root on sys.path), so what the tests exercise is what
developers run. It lives outside src/: the installed package must not need the dev-only
back-ends.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
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

# Run before the server's own command: ask Linux to SIGTERM the server when the process that
# started it dies, however it dies (kill -9 included), then exec the server. A plain
# process group is not enough: the server has its own session, so nothing reaches it once its
# starter is gone and it keeps the port. PR_SET_PDEATHSIG survives exec; the getppid check
# covers a starter that died before prctl ran. (Linux fires it when the starting *thread*
# exits: start servers from a thread that lives as long as they should.)
_STOP_WITH_PARENT = """
import ctypes, os, signal, sys
if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM) != 0:  # 1 = PR_SET_PDEATHSIG
    sys.exit("s3server: prctl(PR_SET_PDEATHSIG) failed")
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)
os.execv(sys.argv[2], sys.argv[2:])
"""


class PortInUseError(RuntimeError):
    """The port is held by another process (another S3 server, MinIO, an old s3-dev)."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"{HOST}:{port} is already in use (another S3 server, MinIO or an earlier "
            "`make s3-dev`?): stop that process, or choose another port with --port N "
            "(--port 0 = any free port)"
        )


def stop_with_parent(command: list[str]) -> list[str]:
    """`command` made to receive SIGTERM when this process dies (Linux; elsewhere unchanged)."""
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-S", "-c", _STOP_WITH_PARENT, str(os.getpid()), *command]


def exit_with_parent() -> None:
    """Make *this* process receive SIGTERM when its parent dies (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)


def _port_in_use(port: int) -> bool:
    """Whether something listens on `port` of 127.0.0.1 or ::1 (raises on other bind errors)."""
    for family, host in ((socket.AF_INET, HOST), (socket.AF_INET6, "::1")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with sock:
            # as the server binds: a port in TIME_WAIT after a stopped server is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
                if family == socket.AF_INET:  # e.g. a port below 1024 without root
                    raise RuntimeError(f"{host}:{port}: cannot listen: {exc.strerror}") from None
    return False


def check_port_free(port: int) -> None:
    """Raise PortInUseError if something already listens on `port` of the loopback.

    Without this the new server fails to bind and exits, while the bucket request reaches
    the server already there, which refuses our keys (InvalidAccessKeyId). ::1 is checked
    too because the committed endpoint is `localhost`, which may resolve to it first.
    """
    if _port_in_use(port):
        raise PortInUseError(port)


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
            if _port_in_use(server.port):  # taken between check_port_free and the bind
                raise PortInUseError(server.port)
            raise RuntimeError(
                f"the {server.kind} server exited with code {server.process.returncode} "
                "before it was ready (see its log)"
            )
        try:
            client.create_bucket(Bucket=server.bucket)
            return
        except botocore.exceptions.ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return
            # A refusal from a server that is not ours: ours failed to bind and is exiting
            # (the port was taken after check_port_free), another one answered.
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=10)
            if server.process.poll() is not None and _port_in_use(server.port):
                raise PortInUseError(server.port) from None
            raise RuntimeError(
                f"{server.endpoint} refused to create bucket {server.bucket}: "
                f"{error['Code']}: {error.get('Message', '')}"
            ) from None
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
    or subprocess.DEVNULL; None inherits this process's stdout/stderr). The server stops
    when this process dies, even by SIGKILL (Linux). A given port that is taken raises
    PortInUseError.
    """
    access_key = access_key or f"stackseg-{secrets.token_hex(4)}"
    secret_key = secret_key or secrets.token_urlsafe(24)
    if port:
        check_port_free(port)
    else:
        port = free_port()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NANIO_ACCESS_KEY": access_key, "NANIO_SECRET_KEY": secret_key}
    process = subprocess.Popen(
        stop_with_parent(_server_command(kind, port, data_dir)),
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
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one dies (`make s3-dev` sets it)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # SIGTERM (a supervisor, make, --exit-with-parent) and SIGHUP (the terminal closed) stop
    # the server as Ctrl-C does: the default action would end this process without `finally`.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: sys.exit(0))
    if args.exit_with_parent:
        exit_with_parent()
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
    except (RuntimeError, TimeoutError, ValueError) as exc:
        print(f"s3server: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the data directory cannot be created
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"s3server: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):  # while starting: start_server stopped it
        return 0
    where = f", objects in {args.data_dir}" if args.server == "nanio" else ", objects in memory"
    print(f"# {args.server} S3 server on {server.endpoint}, bucket s3://{args.bucket}{where}")
    print("# run these in the shell you use for dvc (Ctrl-C here stops the server):")
    print("\n".join(environment_lines(server)), flush=True)
    try:
        return server.process.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
