"""Where the suite's time goes: `python -m tests.timing FILE` sums the lines that
tests/conftest.py writes under STACKSEG_TEST_TIMES=FILE, per xdist worker and per group.

With `pytest -n 2 --dist loadgroup` a worker runs whole groups, so the wall time is about the
larger worker's sum: a group near half the total decides it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def sums(lines: list[dict], key: str) -> dict[str, float]:
    """Seconds per value of `key` (group, worker, nodeid), largest first."""
    total: dict[str, float] = defaultdict(float)
    for line in lines:
        total[line[key]] += line["seconds"]
    return dict(sorted(total.items(), key=lambda item: -item[1]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.timing FILE", file=sys.stderr)
        return 2
    lines = [json.loads(text) for text in Path(argv[0]).read_text().splitlines() if text]
    workers: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        workers[line["group"]].add(line["worker"])
    print("seconds per worker:")
    for name, seconds in sums(lines, "worker").items():
        print(f"{seconds:9.1f}  {name}")
    print("seconds per group (the 30 largest), worker:")
    for name, seconds in list(sums(lines, "group").items())[:30]:
        print(f"{seconds:9.1f}  {name}  {','.join(sorted(workers[name]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
