"""Shared fixtures: a throw-away git + DVC project running the real pipeline on tiny data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import gto  # noqa: F401 (imported first on purpose, see below)
import pytest
import yaml

from stackseg.config import (
    TrainConfig,
    config_from_dict,
    load_params,
    load_profile,
    merge,
)

# Importing GTO runs logging.config.dictConfig (gto/log.py), which closes every logging handler
# made before it. absl's handler (made when a test first imports TensorFlow) closes its stream
# unless that stream is the current sys.stderr: in a test with capsys it is pytest's global
# capture file, and closing it broke every later test of the session. Imported here, before
# any test, GTO closes nothing that matters.

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def tiny_params(**section_overrides: Any) -> dict:
    """params.yaml merged with profiles/tiny.yaml and any per-test overrides."""
    params = merge(load_params(ROOT / "params.yaml"), load_profile(ROOT / "profiles/tiny.yaml"))
    return merge(params, section_overrides)


def train_config(**overrides: Any) -> TrainConfig:
    """params.yaml's train section with `overrides` (the config has no defaults)."""
    return config_from_dict(merge(load_params(ROOT / "params.yaml"), {"train": overrides})).train


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: float = 600, env=None):
    """Run a command with the venv's tools first on PATH; return CompletedProcess."""
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    full_env.update(env or {})
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def make_project(path: Path, params: dict | None = None, synth: bool = True) -> Path:
    """A git repo with dvc init, the project's dvc.yaml, src/ and params; optionally demo data."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, path / name)
    # what git tracks: no byte-code, no build metadata (the installed
    # package in this venv is what runs; these copies only feed DVC's code dependencies)
    shutil.copytree(
        ROOT / "src",
        path / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    (path / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "tests@stackseg.invalid"], path)
    run(["git", "config", "user.name", "stackseg tests"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "config", "core.analytics", "false"], path)
    # the project's custom plot templates (dvc.yaml's confusion plot) and its profiles
    shutil.copytree(ROOT / ".dvc" / "plots", path / ".dvc" / "plots")
    shutil.copytree(ROOT / "profiles", path / "profiles")
    if synth:
        run(["stackseg", "synth"], path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh tiny project with demo data in data/raw (not yet prepared)."""
    return make_project(tmp_path / "proj")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """One trained tiny project for the session (tests/trained.py): do not modify it."""
    from tests.trained import build_trained

    return build_trained(tmp_path_factory.mktemp("model") / "proj")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny project after `dvc repro` of every stage, committed (tests/pipeline.py), built
    once per run: do not modify it, copy it (`tests.pipeline.copy_pipeline`)."""
    from tests.pipeline import build_pipeline, shared

    return shared(tmp_path_factory, "pipeline", build_pipeline)


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory) -> Path:
    """The session's trained model in a folder of its own, its ONNX export beside it:
    model.keras + model.json + model.onnx (Keras 3's tf2onnx export), exported once (infer's
    and serve's tests)."""
    import numpy as np

    from stackseg.models import load_model

    folder = tmp_path_factory.mktemp("infer-model")
    shutil.copy(trained.path("model"), folder / "model.keras")
    shutil.copy(trained.path("model_card"), folder / "model.json")
    model = load_model(folder / "model.keras")
    # one call first: the export traces a built model
    model.predict_on_batch(np.zeros((1, 48, 48, 1), np.float32))
    model.export(str(folder / "model.onnx"), format="onnx", verbose=False)
    return folder


# the hooks that group, order and time the tests for `make test` (pytest -n 2 --dist loadgroup)
from tests.scheduling import (  # noqa: E402, F401 (pytest finds hooks by name here)
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_logreport,
)
