"""The terminal picker of `stackseg infer --interactive`: a numbered table, one choice.

It takes the choices (`stackseg.registry.choices.model_choices`: each has a `label`, a `ref`
and `metrics`, a mapping of headline figures) and the streams, so it runs the same on a
terminal, under a test feeding stdin, or in a pipe. A bad answer (not a number, out of
range) is answered with one line and asked again; end of input (Ctrl-D, a closed pipe) or
`q` ends the command with a clear error and nothing done.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from stackseg.errors import StacksegError

MAX_TRIES = 10


class NoChoice(StacksegError):
    """The picker ended without a choice (end of input, `q`, or too many bad answers)."""

    exit_code = 1


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def table(choices: Sequence[Any]) -> str:
    """The numbered table: #, label, then one column per metric any choice has."""
    keys: list[str] = []
    for choice in choices:
        keys += [key for key in (choice.metrics or {}) if key not in keys]
    rows = [["#", "model", *keys]]
    for number, choice in enumerate(choices, 1):
        metrics = choice.metrics or {}
        rows.append([str(number), str(choice.label), *(_figure(metrics.get(k)) for k in keys)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def pick(choices: Sequence[Any], stdin: TextIO | None = None, stdout: TextIO | None = None) -> Any:
    """The chosen entry of `choices` (asks on `stdout`, reads `stdin`)."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stderr
    if not choices:
        raise NoChoice("no registered versions or experiments to choose from")
    print(table(choices), file=stdout)
    for _ in range(MAX_TRIES):
        print(f"model [1-{len(choices)}, q to quit]: ", end="", file=stdout, flush=True)
        answer = stdin.readline()
        if not answer:
            print(file=stdout)
            raise NoChoice("no model chosen (end of input)")
        answer = answer.strip()
        if answer.lower() in ("q", "quit"):
            raise NoChoice("no model chosen")
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]
        print(f"not a choice: {answer!r}; type a number from 1 to {len(choices)}", file=stdout)
    raise NoChoice(f"no model chosen ({MAX_TRIES} answers that were not a choice)")
