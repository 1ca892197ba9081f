"""Data-parallel training on loopback: 2 workers vs 1 worker with the same global batch.

`stackseg train --local-workers 2` (train.batch_size 4 per replica) and then
`--local-workers 1` with batch_size 8 see the very same global batches (the tf.data
pipeline builds them identically, each worker keeps its slice). The two differ only in how
the gradient is summed (an all-reduce over 2 partial sums vs one sum), so the weights
agree to float32 rounding, amplified a little by Adam over a few steps: TOLERANCE.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import make_project, run, tiny_params

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5  # largest |difference| of any weight, 2 workers vs 1 (measured: 2.5e-7)
TIMEOUT = 1800  # seconds per run: a bound; ~1-2 min on 2 idle cores (XLA compilation included)


def _weights(path: Path) -> list[np.ndarray]:
    import keras

    import stackseg.models  # noqa: F401  (registers the custom objects)

    return [np.asarray(w) for w in keras.models.load_model(path, compile=False).get_weights()]


def test_two_workers_agree_and_match_one_worker(tmp_path: Path):
    params = tiny_params()
    project = make_project(tmp_path / "proj", params)
    run(["stackseg", "prepare"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "tiny"], project)

    # jax's persistent compilation cache: the second run reuses what the first compiled
    cache = {
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    train = ["stackseg", "train", "--local-workers"]
    two = run([*train, "2"], project, timeout=TIMEOUT, env=cache)
    # both workers ran, each logged with its prefix, and they ended with the same weights
    assert "[worker 1]" in two.stderr and "[worker 0]" in two.stderr
    agreed = [line for line in two.stderr.splitlines() if "hold the same weights" in line]
    assert len(agreed) == 2 and "all 2 processes" in agreed[0]
    print(agreed[0])
    card = json.loads((project / "models/model.json").read_text())
    assert card["params"]["distributed"]["replicas"] == 2
    assert card["params"]["distributed"]["global_batch"] == 8
    assert card["training"]["epochs_run"] == params["train"]["epochs"]
    assert not any((project / ".stackseg/resume").rglob("*.npz"))  # the chief cleaned up
    shutil.copy(project / "models/model.keras", tmp_path / "two.keras")

    params["train"]["batch_size"] = 8
    (project / "one.yaml").write_text(yaml.safe_dump(params))
    one = run([*train, "1", "--params", "one.yaml"], project, timeout=TIMEOUT, env=cache)
    assert "all 1 processes hold the same weights" in one.stderr
    two_w, one_w = _weights(tmp_path / "two.keras"), _weights(project / "models/model.keras")
    assert [w.shape for w in two_w] == [w.shape for w in one_w]
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(two_w, one_w, strict=True))
    print(f"largest weight difference, 2 workers vs 1: {worst:.3g}")
    assert worst <= TOLERANCE
