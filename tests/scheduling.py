"""How `make test` (`pytest -n 2 --dist loadgroup`) shares the tests between its two xdist
workers: the hooks of tests/conftest.py that group, order and time them.

Groups: a worker runs whole groups. A module is one group, so its module-scoped fixtures (a
trained project, a server) are built once; every test of the session's `trained` project
(tests/trained.py) is in one group, so that project is trained once, not once per worker.

Order: the wall time is the larger of the two workers' sums, so the groups go out longest
first (a long group handed out last would run alone at the end). A group's length is
estimated from its tests' `slow` marks (tests over ~2 s carry it), plus the `trained`
build; xdist's own order (most tests first) is turned off, it put the one-test modules that
run a whole pipeline last.

Time: with STACKSEG_TEST_TIMES=<file> each test's setup, call and teardown go to <file> as
JSON lines, with their group and worker: `python -m tests.timing <file>` sums them.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

SLOW_S = 20.0  # a rough length of a test marked slow (they take 2 to 150 s)
OTHER_S = 0.3
TRAINED_S = 90.0  # tests/trained.py's build
GROUPS: dict[str, str] = {}  # node id (without xdist's "@group") -> group


def group_of(item: pytest.Item) -> str:
    """The xdist group of a test: "trained" or its module's path."""
    fixtures = getattr(item, "fixturenames", ())
    return "trained" if "trained" in fixtures else item.nodeid.split("::", 1)[0]


def pytest_configure(config: pytest.Config) -> None:
    # xdist's controller hands out the groups in collection order (set below) instead of
    # most tests first
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _in_group(item: pytest.Item, group: str) -> None:
    """Put the test in its xdist group: the "@group" suffix of its node id, which the
    controller's loadgroup scheduler reads.

    xdist 3.8's worker appends it to `item._nodeid`, which pytest 9.2 no longer reads (node
    ids are structured: `item._id`): every test was a group of its own, and module fixtures
    (and `trained`) were built on both workers (pytest-dev/pytest-xdist#1386). Where xdist's
    suffix took, it is left as it is.
    """
    item.add_marker(pytest.mark.xdist_group(group))
    if not getattr(item.config.option, "loadgroup", False):  # not an xdist worker
        return
    from _pytest.nodeid import NodeId

    if not item.nodeid.endswith(f"@{group}"):
        item._id = NodeId.parse(f"{item.nodeid}@{group}")  # type: ignore[attr-defined]


# trylast: after xdist's own pytest_collection_modifyitems (it reads the marks set here)
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test in its group; in an xdist worker, order the groups longest first."""
    estimate: dict[str, float] = defaultdict(float)
    first: dict[str, int] = {}
    group_at: dict[int, str] = {}  # id(item) -> group
    for index, item in enumerate(items):
        group = group_at[id(item)] = GROUPS[item.nodeid] = group_of(item)
        _in_group(item, group)
        estimate[group] += SLOW_S if item.get_closest_marker("slow") else OTHER_S
        first.setdefault(group, index)
    estimate["trained"] += TRAINED_S
    if os.environ.get("PYTEST_XDIST_WORKER"):  # -n 0 keeps pytest's order
        # stable: a group's tests stay together and in their order
        order = {group: (-estimate[group], index) for group, index in first.items()}
        items.sort(key=lambda item: order[group_at[id(item)]])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With STACKSEG_TEST_TIMES=<file>: one JSON line per phase of each test."""
    out = os.environ.get("STACKSEG_TEST_TIMES")
    if not out or not GROUPS:  # xdist's controller collects nothing: its workers write
        return
    nodeid = report.nodeid
    if nodeid not in GROUPS:  # xdist's worker appended "@<group>"
        nodeid = nodeid.rsplit("@", 1)[0]
    line = {
        "nodeid": nodeid,
        "group": GROUPS.get(nodeid, "?"),
        "when": report.when,
        "seconds": round(report.duration, 3),
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
    }
    with open(out, "a") as file:  # one short line per write: the workers share the file
        file.write(json.dumps(line) + "\n")
