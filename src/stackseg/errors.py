"""Errors that end a command with clear one-line messages instead of a traceback."""

from __future__ import annotations


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
