"""The pins of the lock files, and the modules the image's lock leaves out.

The image installs requirements-serve.lock, a subset of requirements.lock (`make lock`). The
tests have the full environment, so to run the server as the image would, every module that
only the packages outside the serve lock provide is blocked from import (`blocker_dir`: a
`sitecustomize` for the server's PYTHONPATH).
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)")

SITECUSTOMIZE = '''"""Written by tests/container/locks.py: modules outside requirements-serve.lock are absent."""
import importlib.abc
import os
import sys


class _NotInTheImage(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(
                f"No module named {name!r} (not in requirements-serve.lock)", name=name
            )
        return None


_names = frozenset(filter(None, os.environ.get("STACKSEG_TEST_BLOCKED", "").split(",")))
if _names:
    sys.meta_path.insert(0, _NotInTheImage(_names))
'''


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """{normalized distribution name: version} of a requirements or lock file."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if match := PIN.match(line.strip()):
            found[normalize(match.group(1))] = match.group(2)
    return found


def left_out() -> set[str]:
    """Distributions of requirements.lock that requirements-serve.lock does not install."""
    return set(pins(ROOT / "requirements.lock")) - set(pins(ROOT / "requirements-serve.lock"))


@functools.cache
def blocked_modules() -> frozenset[str]:
    """Top-level modules that only the left-out distributions provide (tensorflow, keras, ...)."""
    outside = left_out()
    return frozenset(
        module
        for module, dists in packages_distributions().items()
        if dists and all(normalize(dist) in outside for dist in dists)
    )


def blocker_dir(folder: Path) -> Path:
    """A folder with the sitecustomize above: put it first on the server's PYTHONPATH and name
    the modules in STACKSEG_TEST_BLOCKED."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder
