"""The prepare package: every module imports, none is over ~300 lines, and the imports
between its modules form no cycle (a cycle is how plan <-> worker <-> tiff_io <-> pages
grew before the package was re-cut)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import stackseg.prepare

PACKAGE = Path(stackseg.prepare.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
MAX_LINES = 300


def _imports(path: Path) -> set[str]:
    """Modules of this package that `path` imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "stackseg.prepare":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("stackseg.prepare."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("stackseg.prepare."):
                    found.add(alias.name.split(".")[2])
    return found & set(MODULES)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for after in sorted(graph[node]):
            if state.get(after) == "open":
                return [*path[path.index(after) :], after]
            if after not in state and (found := visit(after, [*path, after])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports_and_stays_small(name):
    importlib.import_module(f"stackseg.prepare.{name}")
    lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
    assert lines <= MAX_LINES, f"{name}.py has {lines} lines"


def test_the_package_imports_form_no_cycle():
    graph = {name: _imports(PACKAGE / f"{name}.py") for name in MODULES}
    assert graph["stage"] >= {"workers", "jobs", "manifest", "raw"}  # the graph is real
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
