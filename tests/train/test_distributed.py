"""Data-parallel training on loopback: 2 workers killed and resumed, then vs 1 worker.

One 2-worker run (`stackseg train --local-workers 2`, train.batch_size 2 per replica) is
killed with SIGKILL (the launcher and both workers, as a lost machine would) after its
epoch-2 checkpoint, and the same command resumes it to the end. A 1-worker run with
batch_size 4 then sees the very same global batches uninterrupted (the tf.data pipeline
builds them identically, each worker keeps its slice). The two differ only in how the
gradient is summed (an all-reduce over 2 partial sums vs one sum), so the weights agree to
float32 rounding, amplified a little by Adam over a few steps: TOLERANCE. A resume that
lost anything (optimizer moments, the step count, dropout's seed state, the epoch of the
augmentation) would change a step by about the learning rate, 100 times TOLERANCE.

The project is the prepared tree of tests/train/prepared_data.py (no synth, no prepare):
6 train pairs, one global batch of 4 an epoch. jax's persistent compilation cache lets
the resumed run reuse what the killed one compiled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import BIN, run, tiny_params
from tests.train.prepared_data import write_prepared

pytestmark = pytest.mark.slow

EPOCHS = 4  # killed after the 2nd epoch's checkpoint: 2 epochs of margin for the kill
TOLERANCE = 1e-5  # largest |difference| of any weight, 2 workers vs 1 (measured: 2.5e-7)
TIMEOUT = 600  # seconds per run: a bound (XLA compilation included)
TRAIN = ["stackseg", "train", "--local-workers"]


def _weights(path: Path) -> list[np.ndarray]:
    import keras

    import stackseg.models  # noqa: F401  (registers the custom objects)

    return [np.asarray(w) for w in keras.models.load_model(path, compile=False).get_weights()]


def _kill_after_epoch_2(project: Path, env: dict, log: Path) -> int:
    """Start 2 workers, SIGKILL the whole process group after the epoch-2 checkpoint;
    returns the epochs done by the newest checkpoint left."""
    resume_root = project / ".stackseg/resume"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [*TRAIN, "2"],
            cwd=project,
            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # the launcher and its workers: one process group
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while not list(resume_root.glob("*/epoch-0002")):
                assert proc.poll() is None, f"exited before epoch 2:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"no epoch-0002 in {TIMEOUT} s"
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    # a kill just after a checkpoint's rename can precede the pruning of the one before
    checkpoints = sorted(resume_root.glob("*/epoch-*"))
    assert 1 <= len(checkpoints) <= 2, checkpoints
    done = int(checkpoints[-1].name.split("-")[1])
    assert 2 <= done < EPOCHS  # killed mid-run: resuming has work left to do
    return done


def test_two_workers_resume_after_a_kill_and_match_one_worker(tmp_path: Path):
    project = tmp_path / "proj"
    write_prepared(project / "data/prepared")
    params = tiny_params(train={"epochs": EPOCHS, "batch_size": 2})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cache = {
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }

    done = _kill_after_epoch_2(project, cache, tmp_path / "killed.log")
    two = run([*TRAIN, "2"], project, timeout=TIMEOUT, env=cache)
    # both workers resumed from the chief's checkpoint, then ended with the same weights
    for worker in (0, 1):
        assert f"[worker {worker}] stackseg: resuming after epoch {done}" in two.stderr
    agreed = [line for line in two.stderr.splitlines() if "hold the same weights" in line]
    assert len(agreed) == 2 and "all 2 processes" in agreed[0]
    print(agreed[0])
    card = json.loads((project / "models/model.json").read_text())
    assert card["params"]["distributed"]["replicas"] == 2
    assert card["params"]["distributed"]["global_batch"] == 4
    assert card["training"]["epochs_run"] == EPOCHS
    # dvclive's history: the epochs before the kill replayed, then the rest
    summary = json.loads((project / "metrics/train/metrics.json").read_text())
    assert summary["step"] == EPOCHS - 1
    history = (project / "metrics/train/plots/metrics/fit/val/iou.tsv").read_text().split("\n")
    assert [row.split("\t")[0] for row in history if row] == ["step", *map(str, range(EPOCHS))]
    assert not (project / ".stackseg/resume").exists()  # the chief cleaned up
    shutil.copy(project / "models/model.keras", tmp_path / "two.keras")

    params["train"]["batch_size"] = 4
    (project / "one.yaml").write_text(yaml.safe_dump(params))
    one = run([*TRAIN, "1", "--params", "one.yaml"], project, timeout=TIMEOUT, env=cache)
    assert "all 1 processes hold the same weights" in one.stderr
    assert "resuming" not in one.stderr
    two_w, one_w = _weights(tmp_path / "two.keras"), _weights(project / "models/model.keras")
    assert [w.shape for w in two_w] == [w.shape for w in one_w]
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(two_w, one_w, strict=True))
    print(f"largest weight difference, 2 workers (killed, resumed) vs 1: {worst:.3g}")
    assert worst <= TOLERANCE
