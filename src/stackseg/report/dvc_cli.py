"""Run the project's own DVC (the one installed next to stackseg) and read its JSON output.

The report uses DVC's command line rather than its internal Python API: the CLI's JSON is
the documented, stable surface (`dvc params diff --json`, `dvc metrics diff --json`,
`dvc plots diff --json`), so a DVC upgrade cannot silently change what the report reads.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from stackseg.errors import StacksegError

log = logging.getLogger(__name__)

# Generous: `dvc plots diff` reads every plot file of two revisions.
DVC_TIMEOUT_S = 600


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no error output)"])[-1]


def run_dvc(args: list[str], cwd: Path, timeout: float = DVC_TIMEOUT_S) -> str:
    """Run `python -m dvc ARGS` in cwd; return stdout or raise a one-line StacksegError."""
    cmd = [sys.executable, "-m", "dvc", *args]
    log.debug("running %s", " ".join(cmd))
    # DVC starts helpers by name (the experiment queue's worker is `dvc exp queue-worker`):
    # this interpreter's bin directory first, so they are the same DVC installation
    bin_dir = os.path.dirname(sys.executable)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": path}
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        raise StacksegError(f"`dvc {' '.join(args)}` took longer than {timeout:g} s") from None
    if proc.returncode != 0:
        raise StacksegError(
            f"`dvc {' '.join(args)}` failed (exit {proc.returncode}): {_last_error_line(proc.stderr)}"
        )
    return proc.stdout


def dvc_json(args: list[str], cwd: Path) -> dict:
    """Run a dvc command with --json and parse its output ({} when it prints nothing)."""
    out = run_dvc([*args, "--json"], cwd).strip()
    if not out:
        return {}
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        raise StacksegError(
            f"`dvc {' '.join(args)} --json` printed something that is not JSON"
        ) from None
    return data if isinstance(data, dict) else {}
