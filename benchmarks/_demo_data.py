"""Shared by the train benchmarks: the demo dataset, prepared once under a work directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stackseg.contracts import MANIFEST_NAME

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def demo_params(overrides: dict | None = None) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        params[section][key] = value
    return params


def prepared_demo(work: Path) -> Path:
    """<work>/demo: a project dir with params.yaml and data/prepared of the demo dataset."""
    project = work / "demo"
    if (project / "data/prepared" / MANIFEST_NAME).is_file():
        return project
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    (project / "params.yaml").write_text(yaml.safe_dump(demo_params(), sort_keys=False))
    print(f"writing and preparing the demo dataset in {project}", flush=True)
    for stage in ("synth", "prepare"):
        subprocess.run([str(BIN / "stackseg"), stage], cwd=project, check=True)
    return project
