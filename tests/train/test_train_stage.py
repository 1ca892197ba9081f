"""The train stage end to end (`stackseg train` in a subprocess, tiny params).

Checks the outputs and their contract, and that a run stopped with SIGTERM after its 2nd epoch
checkpoint, resumed, then killed with SIGKILL two epochs later, resumes to the very same
result. (Identical retraining under DVC, i.e. an unchanged dvc.lock after `dvc repro -f
train`, is tested in test_train_dvc.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from stackseg.contracts import read_card
from tests.conftest import BIN, tiny_params
from tests.train.prepared_data import write_prepared

pytestmark = pytest.mark.slow

EPOCHS = 8  # room for two interruptions, each two epochs after the last
CLASSES = ["disc", "ring", "streak"]
OUTPUTS = ("models", "metrics")
RESUME = ".stackseg/resume"


def _project(path: Path, **train) -> Path:
    path.mkdir(parents=True)
    write_prepared(path / "data" / "prepared")
    params = tiny_params(train={"epochs": EPOCHS, **train})
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _train(path: Path) -> subprocess.CompletedProcess:
    # like `dvc repro`, which deletes a stage's outputs before running it
    for name in OUTPUTS:
        shutil.rmtree(path / name, ignore_errors=True)
    proc = subprocess.run(
        ["stackseg", "train"], cwd=path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _files(path: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(path)): f.read_bytes()
        for name in OUTPUTS
        for f in sorted((path / name).rglob("*"))
        if f.is_file()
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    path = _project(tmp_path_factory.mktemp("ref") / "proj")
    _train(path)
    return path


def test_outputs_and_contract(reference: Path):
    text = (reference / "models/model.json").read_text()
    # written through the contract: reads back, and dumps to the very same bytes
    card = read_card(reference / "models/model.json", CLASSES)
    assert card.dumps() == text
    assert card.input.channels == 1 and card.input.size_multiple == 4
    assert card.output.model_dump() == {
        "channels": 3,
        "activation": "sigmoid",
        "meaning": "channel k = probability that the pixel belongs to classes[k]",
        "thresholds": [0.5, 0.5, 0.5],  # train.threshold 0.5, one per class
        "threshold_rule": "fixed",
        "instances": None,  # not instance labels: written without the key (card.dumps)
        "threshold_choice": None,  # auto only
    }
    assert "instances" not in text
    lineage = card.lineage
    assert lineage.pairs == {"train": 6, "val": 2, "test": 2}
    assert len(lineage.prepared_data_sha256) == 64 and len(lineage.code_sha256) == 64
    assert lineage.code_commit is None  # not a git repository
    assert card.params["train"]["epochs"] == EPOCHS
    assert card.training.epochs_run == EPOCHS
    best_epoch = card.training.best_epoch
    assert best_epoch is not None and 1 <= best_epoch <= EPOCHS
    best_iou = card.training.best_val["iou"]

    live = reference / "metrics/train"
    summary = json.loads((live / "metrics.json").read_text())
    # metric keys under fit/: never the same dotted name as a param (train.loss)
    assert list(summary) == ["fit", "step"] and list(summary["fit"]) == ["train", "val", "best"]
    assert summary["step"] == EPOCHS - 1
    assert summary["fit"]["best"]["val"]["iou"] == best_iou
    assert summary["fit"]["best"]["epoch"] == best_epoch
    assert set(summary["fit"]["val"]) >= {"loss", "iou", "dice", "iou_disc", "dice_streak"}
    assert set(summary["fit"]["train"]) >= {"loss", "iou", "learning_rate"}
    history = (live / "plots/metrics/fit/val/iou.tsv").read_text().splitlines()
    assert history[0].split("\t") == ["step", "iou"] and len(history) == EPOCHS + 1
    assert max(float(row.split("\t")[1]) for row in history[1:]) == best_iou
    assert yaml.safe_load((live / "params.yaml").read_text())["train"]["epochs"] == EPOCHS
    # dvclive must not write any dvc.yaml, and a finished run leaves no checkpoints
    assert not list(reference.rglob("dvc.yaml"))
    assert not (reference / RESUME).exists()


def test_saved_model_loads_and_predicts_full_frames(reference: Path):
    import numpy as np

    from stackseg.models import load_model

    model = load_model(reference / "models/model.keras")
    probabilities = model.predict(np.zeros((1, 32, 40, 1), np.float32), verbose=0)
    assert probabilities.shape == (1, 32, 40, 3) and probabilities.dtype == np.float32


def _interrupt(path: Path, signum: int, after: int) -> tuple[int, str]:
    """`stackseg train`, signalled once the checkpoint of epoch `after` is written: (exit
    code, stderr)."""
    proc = subprocess.Popen(
        ["stackseg", "train"],
        cwd=path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # wait (bounded) for the checkpoint, then signal
        deadline = time.monotonic() + 300
        while not list((path / RESUME).glob(f"*/epoch-{after:04d}")):
            assert proc.poll() is None, f"train exited before its epoch {after} checkpoint"
            assert time.monotonic() < deadline, f"no epoch {after} checkpoint within 300 s"
            time.sleep(0.02)
        # SIGTERM to stackseg alone (as a supervisor sends it), SIGKILL to everything
        if signum == signal.SIGTERM:
            proc.send_signal(signum)
        else:
            os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return proc.returncode, err


def _last_checkpoint(path: Path) -> int:
    # a kill just after a checkpoint's rename can precede the pruning of the one before
    # it: then both are complete, and resuming takes the newest
    checkpoints = sorted((path / RESUME).glob("*/epoch-*"))
    assert 1 <= len(checkpoints) <= 2, checkpoints
    return int(checkpoints[-1].name.split("-")[1])


def test_stop_then_kill_then_resume_equals_uninterrupted(reference: Path, tmp_path: Path):
    """Stopped by SIGTERM after the 2nd epoch's checkpoint, resumed and killed by SIGKILL two
    epochs later, resumed again: the very same files as the uninterrupted run."""
    path = _project(tmp_path / "proj")
    code, err = _interrupt(path, signal.SIGTERM, after=2)
    # Ctrl-C's cleanup: the message, 143, no temp output
    assert code == 143 and err.endswith("stackseg train: terminated\n"), err
    assert "Traceback" not in err
    assert not list(path.rglob("*.tmp-*"))
    stopped = _last_checkpoint(path)
    assert 2 <= stopped <= EPOCHS - 4  # stopped mid-run, with room for the second kill

    code, err = _interrupt(path, signal.SIGKILL, after=stopped + 2)
    assert code == -signal.SIGKILL and f"resuming after epoch {stopped}" in err, err
    killed = _last_checkpoint(path)
    assert stopped + 2 <= killed < EPOCHS  # killed mid-run: resuming has work left to do

    resumed = _train(path)
    assert f"resuming after epoch {killed}" in resumed.stderr
    assert _files(path) == _files(reference)
    assert not (path / RESUME).exists()
