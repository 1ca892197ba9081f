"""Errors that end a command with clear one-line messages instead of a traceback.

Exit codes: 1 any other StacksegError, 2 ConfigError, 3 InputDataError, 4 an OS error
(OS_ERROR_EXIT: disk full, permission denied, read-only file system, name too long...;
printed as `<path>: <reason>` by cli.main), 5 BusyError, 130 interrupted (Ctrl-C), 143
terminated (SIGTERM, handled like Ctrl-C).
"""

from __future__ import annotations

# an OSError that reached cli.main: one line naming the path and the reason, then exit 4
OS_ERROR_EXIT = 4


class StacksegError(Exception):
    """A user-facing failure: each entry of `problems` is printed on its own line."""

    exit_code = 1

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(StacksegError):
    """params.yaml (or a -S override) has an unknown key, a wrong type or a bad value."""

    exit_code = 2


class InputDataError(StacksegError):
    """Raw stacks are missing, unpaired, unreadable or hold values outside their format."""

    exit_code = 3


class BusyError(StacksegError):
    """Another run is writing the same output (it holds the output's lock): nothing done."""

    exit_code = 5
