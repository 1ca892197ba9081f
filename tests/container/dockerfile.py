"""Just enough of a Dockerfile and .dockerignore reader for the container tests (Docker does
not run on the dev machines or CI, so these files are checked by reading them).

- `parse(text)`: the build stages, each with its instructions (line continuations joined,
  comments and parser directives dropped), and the stage an instruction's setting comes from
  when a stage is built `FROM` an earlier one (USER, CMD, HEALTHCHECK are inherited).
- `ContextFilter`: Docker's .dockerignore rules (moby/patternmatcher): patterns relative to the
  context root, `*` and `?` within one path segment, `**` across segments, `!` re-includes,
  the last matching pattern wins, and a pattern that matches a folder matches all below it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, COPY, CMD, ...
    arguments: str  # the rest of the line, continuations joined
    line: int  # 1-based line where it starts

    def words(self) -> list[str]:
        """The arguments as a list: the JSON (exec) form as written, else shell-split."""
        text = self.arguments.strip()
        if text.startswith("["):
            value = json.loads(text)
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError(f"line {self.line}: expected a JSON list of strings")
            return value
        return shlex.split(text)

    def check_command(self) -> list[str]:
        """A HEALTHCHECK's command: what follows `CMD`, read as a CMD instruction is."""
        found = re.search(r"(?:^|\s)CMD\s+", self.arguments)
        if self.keyword != "HEALTHCHECK" or found is None:
            raise ValueError(f"line {self.line}: not a HEALTHCHECK ... CMD instruction")
        return Instruction("CMD", self.arguments[found.end() :], self.line).words()

    def flags(self) -> tuple[dict[str, str], list[str]]:
        """`--name=value` flags before the arguments (COPY --from=..., HEALTHCHECK --interval=)."""
        flags: dict[str, str] = {}
        words = shlex.split(self.arguments)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str  # the FROM image, or the name of an earlier stage
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)
    parent: Stage | None = None  # the earlier stage this one is built FROM

    def own(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def effective(self, keyword: str) -> Instruction | None:
        """The last `keyword` of this stage or, when it has none, of the stage it builds on."""
        found = self.own(keyword)
        if found:
            return found[-1]
        return self.parent.effective(keyword) if self.parent else None


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction text): comments dropped, `\\` continuations joined."""
    result: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # a comment (parser directives too), also inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        result.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        raise ValueError(f"line {start}: the file ends inside a continued instruction")
    return result


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), number)
        if instruction.keyword == "FROM":
            _, words = instruction.flags()  # --platform=...
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            parent = next((s for s in stages if s.name == words[0]), None)
            stages.append(Stage(words[0], name, [instruction], parent))
        elif instruction.keyword == "ARG" and not stages:
            continue  # an ARG before the first FROM (none here; allowed by Docker)
        elif not stages:
            raise ValueError(f"line {number}: {instruction.keyword} before the first FROM")
        else:
            stages[-1].instructions.append(instruction)
    return stages


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            if pattern.startswith("/", index):  # `**/x` also matches `x` at the root
                parts[-1] = "(?:.*/)?"
                index += 1
            continue
        parts.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        index += 1
    return re.compile("".join(parts) + r"\Z")


class ContextFilter:
    """Which paths of the build context a .dockerignore leaves in."""

    def __init__(self, text: str):
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:].strip() if include else line
            pattern = str(PurePosixPath("/" + pattern.strip("/"))).lstrip("/") or "."
            self.rules.append((include, _pattern_regex(pattern)))

    def included(self, path: str) -> bool:
        """Whether `path` (relative to the context root, `/` separated) is sent to Docker."""
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        keep = True
        for include, regex in self.rules:
            if any(regex.match(prefix) for prefix in prefixes):
                keep = include
        return keep
