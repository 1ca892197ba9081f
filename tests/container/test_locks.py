"""requirements-serve.lock, what the image installs: a subset of requirements.lock at the same
versions, without TensorFlow and Keras; and the blocker that lets the tests run the server as
if only that lock were installed."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.container.locks import blocked_modules, blocker_dir, left_out, pins


def test_the_serve_lock_is_a_subset_of_the_runtime_lock_at_the_same_versions():
    full, serve = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-serve.lock")
    assert serve, "requirements-serve.lock pins nothing"
    assert {name: version for name, version in serve.items() if full.get(name) != version} == {}


def test_the_serve_requirements_pin_what_requirements_txt_pins():
    full, serve = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-serve.txt")
    assert {name: version for name, version in serve.items() if full.get(name) != version} == {}


def test_the_image_leaves_out_tensorflow_and_keras_but_not_the_server():
    assert {"tensorflow-cpu", "keras", "tf2onnx", "segmentation-models"} <= left_out()
    blocked = blocked_modules()
    assert {"tensorflow", "keras", "tf2onnx", "segmentation_models"} <= blocked
    assert not {"onnxruntime", "fastapi", "uvicorn", "numpy", "dvc", "gto", "stackseg"} & blocked


def test_the_blocker_makes_left_out_modules_absent(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(blocker_dir(tmp_path)), os.environ.get("PYTHONPATH", "")]
        ),
        "STACKSEG_TEST_BLOCKED": ",".join(sorted(blocked_modules())),
    }
    code = (
        "import numpy\n"
        "try:\n    import tensorflow.keras\nexcept ModuleNotFoundError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "No module named 'tensorflow' (not in requirements-serve.lock)" in proc.stdout
