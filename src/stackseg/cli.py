"""The `stackseg` command: one subcommand per stage or tool.

Subcommand modules live in stackseg.commands and are imported only when chosen, so
`stackseg prepare` never pays for (or depends on) importing TensorFlow.

TensorFlow's start-up lines (absl's "All log messages before absl::InitializeLog()",
cpu_feature_guard's "This TensorFlow binary is optimized to use...", oneDNN notices) and
its Python-side warnings are hidden unless `-v`: they say nothing about the user's run.
Errors still show, and a TF_CPP_MIN_LOG_LEVEL the user set is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import select
import signal
import sys
import threading
from pathlib import Path

from stackseg import __version__
from stackseg.atomic import public_path
from stackseg.errors import OS_ERROR_EXIT, StacksegError

# name -> (module in stackseg.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "write the built-in demo dataset of TIFF stacks to data/raw"),
    "prepare": ("prepare", "explode image/mask stacks into jpg/png pairs with a manifest"),
    "train": ("train", "train the segmentation model on the prepared pairs"),
    "evaluate": ("evaluate", "score the model on the test split, write metrics and plots"),
    "export": (
        "export",
        "write models/model.onnx, checked against the Keras model on the test split",
    ),
    "report": ("report", "write a Markdown report comparing the workspace to a base revision"),
    "noise": ("noise", "measure the headline metrics' spread over N seeds at a base revision"),
    "summary": ("summary", "print the test results: mean IoU vs baseline, per class, plots"),
    "infer": ("infer", "segment new images and TIFF stacks with a trained model"),
    "serve": ("serve", "serve the model over HTTP (FastAPI): /predict, /predict/stack, /metrics"),
    "register": ("register", "register the model of this commit (gated) and assign a stage"),
    "models": ("models", "list registered model versions and stages with their metrics"),
    "select": ("select", "rank DVC experiments by a metric; --apply the best one"),
    "drift": ("drift", "check frames for data drift against the training data's profile"),
    "dashboard": ("dashboard", "the Streamlit dashboard: try the model, experiments, drift"),
    "overrides": ("overrides", "print a profile as `-S key=value` arguments for `dvc exp run`"),
}


# TensorFlow's C++ log threshold (0 all, 1 no INFO, 2 no WARNING, 3 no ERROR), read once when
# TensorFlow is imported. It also governs the absl C++ logs of TF 2.21 (the binary reads no
# other logging variable, e.g. no ABSL_MIN_LOG_LEVEL).
TF_LOG_LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"
TF_QUIET_LEVEL = "2"
# Python loggers of TensorFlow and absl: below ERROR only with -v
QUIET_LOGGERS = ("tensorflow", "absl")


class _QuietLibraries(logging.Filter):
    """Drops records below ERROR from TensorFlow's and absl's Python loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        noisy = any(name == n or name.startswith(n + ".") for n in QUIET_LOGGERS)
        return not noisy or record.levelno >= logging.ERROR


def _name_library(record: logging.LogRecord) -> bool:
    """Sets `record.library`: " <logger>" for other libraries' records (shown with -v, where
    TensorFlow and others log too), empty for stackseg's own."""
    own = record.name == "stackseg" or record.name.startswith("stackseg.")
    record.library = "" if own or record.name == "root" else f" {record.name}"
    return True


def quiet_tensorflow() -> None:
    """Hide TensorFlow's start-up log lines; must run before TensorFlow is imported.

    Only a default: a value set by the user (or a Makefile) is kept. The Python-side loggers
    are filtered at stackseg's handler instead of configured, since configuring absl's logger
    before absl creates it would give absl a logger of the wrong class.
    """
    os.environ.setdefault(TF_LOG_LEVEL_VAR, TF_QUIET_LEVEL)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
            handler.addFilter(_QuietLibraries())


_CHECK_ACCESS = "check its permissions and owner (ls -ld) and rerun"
_FREE_SPACE = "free space there (or point paths in params.yaml elsewhere) and rerun"
# what to do about an OS error, by errno (others: _CHECK_PATH)
_OS_ADVICE = {
    errno.ENOSPC: _FREE_SPACE,
    errno.EDQUOT: _FREE_SPACE,
    errno.EACCES: _CHECK_ACCESS,
    errno.EPERM: _CHECK_ACCESS,
    errno.EROFS: "the file system is read-only: make it writable or point paths in "
    "params.yaml at a writable folder",
    errno.ENAMETOOLONG: "shorten the name (255 bytes at most per name on most file systems)",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and rerun",
    errno.ENFILE: "too many open files: raise the limit (ulimit -n) and rerun",
    errno.EIO: "the disk reported an I/O error: check it (dmesg) and rerun",
}
_CHECK_PATH = "check the path and rerun"


def os_error_line(exc: OSError) -> str:
    """`<path>: <reason>; <what to do>` for an OS error that reached the edge; a path inside
    a temporary output is shown as the output's own (stackseg.atomic.public_path)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [public_path(os.fsdecode(p)) for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(dict.fromkeys(paths))  # a rename inside one output names it once
    advice = _OS_ADVICE.get(exc.errno or 0, _CHECK_PATH)
    return f"{where + ': ' if where else ''}{reason}; {advice}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is: the cleanup of Ctrl-C runs (temp outputs
    removed, train's last epoch checkpoint kept), then exit 143 (128 + SIGTERM)."""


def _on_sigterm(signum: int, frame: object) -> None:
    # a second SIGTERM (a supervisor repeating itself) must not cut the cleanup short; a
    # Python no-op rather than SIG_IGN, which children started later would inherit
    signal.signal(signal.SIGTERM, lambda *_: None)
    raise Terminated()


def _die_with_dvc() -> None:
    """Under DVC, end with SIGTERM when DVC dies: DVC forwards no signal.

    `dvc repro` starts `$SHELL -c "<cmd>"` and only ignores SIGINT while it waits; SIGTERM or
    SIGKILL to dvc alone would leave the stage running to the end. bash execs a single
    command, so stackseg is DVC's own child and Linux's parent-death signal covers it. dash
    (Debian's /bin/sh, used when SHELL is unset, as on CI) forks it instead: stackseg's
    parent is the shell, which outlives DVC, so a thread also waits on DVC itself.
    DVC_STAGE is set for every stage command.
    """
    if not os.environ.get("DVC_STAGE") or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    # no prctl in this libc: the thread below alone
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    shell = os.getppid()
    dvc = _shell_parent(shell)
    if dvc is None:
        return  # our parent is DVC itself: the parent-death signal is enough
    try:
        pidfd = os.pidfd_open(dvc)  # readable once DVC has exited; no PID-reuse race after this
    except (OSError, AttributeError):
        return
    if _shell_parent(shell) != dvc:  # DVC died before we watched it
        os.kill(os.getpid(), signal.SIGTERM)
        return

    def wait_for_dvc() -> None:
        select.select([pidfd], [], [])
        os.kill(os.getpid(), signal.SIGTERM)  # raised as Terminated in the main thread

    threading.Thread(target=wait_for_dvc, name="stackseg-dvc-watch", daemon=True).start()


_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "busybox", "fish"})


def _shell_parent(pid: int) -> int | None:
    """The parent of process `pid` if `pid` is a shell (by its /proc name), else None."""
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() not in _SHELLS:
            return None
        # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _load(name: str):
    return importlib.import_module(f"stackseg.commands.{COMMANDS[name][0]}")


def build_parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackseg", description="Reproducible segmentation of multi-page TIFF stacks."
    )
    parser.add_argument("--version", action="version", version=f"stackseg {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, TensorFlow's own lines too"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in names if names is not None else COMMANDS:
        module_name, help_text = COMMANDS[name]
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument(
            "--params", default="params.yaml", help="parameters file (default: params.yaml)"
        )
        _load(name).add_arguments(cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; SIGTERM is handled like Ctrl-C while it runs (see Terminated)."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)  # signal handlers can only be set from the main thread
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _die_with_dvc()
        return _main(argv)
    except Terminated:  # before or after the command ran (argument parsing, imports)
        print("stackseg: terminated", file=sys.stderr)
        return 143
    finally:
        # None: the previous handler was not set from Python (the default, then)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Only import the chosen subcommand's module (cheap --help for the rest).
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser([chosen] if chosen else list(COMMANDS))
    if chosen is None:
        # no valid subcommand: let argparse print usage (lists every command)
        parser.parse_args(argv)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        # verbose: milliseconds since start, a timeline of where a run spends its time
        format=(
            "stackseg %(relativeCreated)6.0f ms %(levelname)s%(library)s: %(message)s"
            if args.verbose
            else "stackseg: %(message)s"
        ),
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_name_library)
    if not args.verbose:
        quiet_tensorflow()
    try:
        _load(args.command).run(args)
    except StacksegError as exc:
        for line in exc.problems:
            print(f"stackseg {args.command}: error: {line}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # a full disk, a folder it may not read or write...: one line, no traceback (the
        # stages remove their temporary output on the way out, stackseg.atomic)
        print(f"stackseg {args.command}: error: {os_error_line(exc)}", file=sys.stderr)
        return OS_ERROR_EXIT
    except Terminated:
        print(f"stackseg {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"stackseg {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
