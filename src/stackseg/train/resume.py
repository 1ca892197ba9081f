"""Epoch-boundary checkpoints that let a killed training continue where it stopped.

Layout under `<resume root>/<key>/` (default .stackseg/resume, git- and dvc-ignored, so
never committed nor pushed to a remote):

    epoch-0003/      model.npz (every model variable, incl. batch-norm statistics and
                     dropout seed state), optimizer.npz (Adam moments, iteration count,
                     learning rate) and state.json (history, best epoch, callback state)
    best-0002.npz    weights of the best epoch so far

The key hashes everything the run depends on (params, prepared data, training code), so a
checkpoint is only resumed by the very run it belongs to. Every file and checkpoint
directory is written through `stackseg.atomic` (built beside, renamed when complete), so a
kill at any moment leaves either the previous or the new checkpoint, never a partial one.
The whole key directory is deleted when training finishes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stackseg import atomic

log = logging.getLogger(__name__)


def resume_key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, *arrays)


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


@dataclass
class Checkpoint:
    epochs_done: int
    state: dict
    model_values: list[np.ndarray]
    optimizer_values: list[np.ndarray]
    best_values: list[np.ndarray] | None


class ResumeStore:
    def __init__(self, root: str | Path, key: str):
        self.root = Path(root)
        self.dir = self.root / key
        self._best_file: str | None = None

    def _complete(self) -> list[Path]:
        return sorted(self.dir.glob("epoch-[0-9]*"))

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint, or None."""
        complete = self._complete()
        if not complete:
            return None
        newest = complete[-1]
        state = json.loads((newest / "state.json").read_text())
        self._best_file = state.get("best_file")
        best = _load_arrays(self.dir / self._best_file) if self._best_file else None
        self._prune(keep=newest)
        return Checkpoint(
            epochs_done=state["epochs_done"],
            state=state,
            model_values=_load_arrays(newest / "model.npz"),
            optimizer_values=_load_arrays(newest / "optimizer.npz"),
            best_values=best,
        )

    def save(
        self,
        epochs_done: int,
        state: dict,
        model_values: list[np.ndarray],
        optimizer_values: list[np.ndarray],
        new_best_values: list[np.ndarray] | None,
    ) -> Path:
        """Write the checkpoint taken after `epochs_done` epochs; new_best_values if improved."""
        name = f"{epochs_done:04d}"
        if new_best_values is not None:
            with atomic.replacing(self.dir / f"best-{name}.npz") as tmp:
                _save_arrays(tmp, new_best_values)
            self._best_file = f"best-{name}.npz"
        final = self.dir / f"epoch-{name}"
        with atomic.replacing(final, directory=True) as tmp_dir:
            _save_arrays(tmp_dir / "model.npz", model_values)
            _save_arrays(tmp_dir / "optimizer.npz", optimizer_values)
            full_state = {**state, "epochs_done": epochs_done, "best_file": self._best_file}
            # key order kept: the history replays into dvclive files in the original order
            (tmp_dir / "state.json").write_text(json.dumps(full_state, indent=1))
        self._prune(keep=final)
        return final

    def _prune(self, keep: Path) -> None:
        """Remove every older checkpoint, unreferenced best weights and leftovers."""
        for path in self.dir.iterdir():
            if path == keep or path.name == self._best_file:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only if no other run left checkpoints

    def others(self) -> list[Path]:
        """Checkpoint directories of other runs (other params or data) under the root."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and p != self.dir]
