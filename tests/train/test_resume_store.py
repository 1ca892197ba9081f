"""Resume checkpoints on disk: newest complete one wins, leftovers are pruned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stackseg.train.resume import ResumeStore, resume_key


def _arrays(value: float) -> list[np.ndarray]:
    return [np.full((2, 3), value, np.float32), np.array(value, np.int64)]


def test_key_depends_on_every_input():
    base = {"params": {"lr": 0.1}, "data": "abc", "code": "x"}
    assert resume_key(base) == resume_key(dict(reversed(base.items())))
    assert resume_key(base) != resume_key({**base, "data": "abd"})
    assert resume_key(base) != resume_key({**base, "params": {"lr": 0.2}})


def test_save_then_latest_round_trips(tmp_path: Path):
    store = ResumeStore(tmp_path / "resume", "k1")
    assert store.latest() is None
    store.save(1, {"history": [{"a": 1.5}]}, _arrays(1), _arrays(10), new_best_values=_arrays(1))
    store.save(2, {"history": [{"a": 1.5}, {"a": 0.5}]}, _arrays(2), _arrays(20), None)
    assert sorted(p.name for p in store.dir.iterdir()) == ["best-0001.npz", "epoch-0002"]

    again = ResumeStore(tmp_path / "resume", "k1").latest()
    assert again.epochs_done == 2 and again.state["history"] == [{"a": 1.5}, {"a": 0.5}]
    for got, want in zip(again.model_values, _arrays(2), strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    np.testing.assert_array_equal(again.optimizer_values[0], _arrays(20)[0])
    np.testing.assert_array_equal(again.best_values[0], _arrays(1)[0])


def test_new_best_replaces_the_old_one(tmp_path: Path):
    store = ResumeStore(tmp_path, "k")
    store.save(1, {}, _arrays(1), _arrays(1), _arrays(1))
    store.save(2, {}, _arrays(2), _arrays(2), _arrays(2))
    assert sorted(p.name for p in store.dir.iterdir()) == ["best-0002.npz", "epoch-0002"]
    assert (
        json.loads((store.dir / "epoch-0002/state.json").read_text())["best_file"]
        == "best-0002.npz"
    )


def test_partial_writes_are_ignored_and_cleaned(tmp_path: Path):
    """A kill while writing leaves stackseg.atomic's temporary entries (.<name>.tmp-<pid>-*):
    the previous checkpoint is used and the leftovers are removed."""
    store = ResumeStore(tmp_path, "k")
    store.save(1, {"n": 1}, _arrays(1), _arrays(1), _arrays(1))
    (store.dir / ".epoch-0002.tmp-99999-x").mkdir()
    (store.dir / ".epoch-0002.tmp-99999-x/model.npz").write_bytes(b"trunc")
    (store.dir / ".best-0002.npz.tmp-99999-y").write_bytes(b"trunc")
    (store.dir / "best-0002.npz").write_bytes(b"unreferenced")  # written, checkpoint not yet
    checkpoint = store.latest()
    assert checkpoint.epochs_done == 1 and checkpoint.state["n"] == 1
    np.testing.assert_array_equal(checkpoint.best_values[0], _arrays(1)[0])
    assert sorted(p.name for p in store.dir.iterdir()) == ["best-0001.npz", "epoch-0001"]


def test_clear_and_others(tmp_path: Path):
    mine, other = ResumeStore(tmp_path / "r", "mine"), ResumeStore(tmp_path / "r", "other")
    mine.save(1, {}, _arrays(1), _arrays(1), None)
    other.save(1, {}, _arrays(1), _arrays(1), None)
    assert mine.others() == [other.dir]
    mine.clear()
    assert not mine.dir.exists() and other.dir.exists()
    other.clear()
    assert not (tmp_path / "r").exists()


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch):
    store = ResumeStore(tmp_path, "k")
    store.save(1, {"n": 1}, _arrays(1), _arrays(1), _arrays(1))
    state = {"n": 2, "bad": object()}  # not JSON: fails after the arrays were written
    try:
        store.save(2, state, _arrays(2), _arrays(2), None)
    except TypeError:
        pass
    else:
        raise AssertionError("expected the unserialisable state to fail")
    assert sorted(p.name for p in store.dir.iterdir()) == ["best-0001.npz", "epoch-0001"]
    assert ResumeStore(tmp_path, "k").latest().state["n"] == 1
