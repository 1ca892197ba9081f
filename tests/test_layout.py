"""The package's layout: every module imports, none is over ~300 lines, and the imports
between stackseg's modules form no cycle (a cycle is how plan <-> worker <-> tiff_io <->
pages grew in the old prepare package, and evaluate's run <-> outputs)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import stackseg

SRC = Path(stackseg.__file__).parent
MODULES = sorted(
    ".".join(("stackseg", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
    for path in SRC.rglob("*.py")
)
MAX_LINES = 300


def _path(module: str) -> Path:
    parts = module.split(".")[1:]
    file = SRC.joinpath(*parts).with_suffix(".py")
    return file if file.is_file() else SRC.joinpath(*parts, "__init__.py")


def _imports(module: str) -> set[str]:
    """stackseg modules that `module` imports, at any depth (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(_path(module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    # a package's __init__ importing its own modules is not a cycle with them
    return (found & set(MODULES)) - {module} - {m for m in MODULES if m.startswith(module + ".")}


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
    importlib.import_module(name)
    lines = len(_path(name).read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_the_imports_form_no_cycle():
    graph = {name: _imports(name) for name in MODULES}
    # the graph is real: the stage orchestrators import their parts and the contract
    assert graph["stackseg.prepare.stage"] >= {"stackseg.prepare.workers", "stackseg.contracts"}
    assert "stackseg.contracts" in graph["stackseg.evaluate.stage"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
