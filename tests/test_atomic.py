"""stackseg.atomic: an output is either the old one or the new one, never half of one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stackseg import atomic


def _hidden(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_write_text_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic.write_text(target, "old")
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert _hidden(target.parent) == []


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "card.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(target) as temp:
        temp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert _hidden(tmp_path) == []


def test_directory_replaced_whole(tmp_path):
    target = tmp_path / "plots"
    target.mkdir()
    (target / "stale.json").write_text("x")
    with atomic.replacing(target, directory=True) as temp:
        (temp / "fresh.json").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.json"]
    assert _hidden(tmp_path) == []


def test_failed_directory_keeps_the_old_one(tmp_path):
    target = tmp_path / "plots"
    target.mkdir()
    (target / "old.json").write_text("x")
    with pytest.raises(KeyboardInterrupt), atomic.replacing(target, directory=True) as temp:
        (temp / "new.json").write_text("y")
        raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["old.json"]
    assert _hidden(tmp_path) == []


def test_new_files_get_the_umask_mode_not_private(tmp_path):
    target = tmp_path / "model.json"
    atomic.write_text(target, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_remove_stale_keeps_a_live_owner(tmp_path):
    target = tmp_path / "prepared"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    mine = tmp_path / f".prepared.tmp-{os.getpid()}-abc"
    gone = tmp_path / f".prepared.tmp-{dead_pid}-def"
    gone_old = tmp_path / f".prepared.old-{dead_pid}-01"
    for path in (mine, gone, gone_old):
        path.mkdir()
    atomic.remove_stale(target)
    assert mine.exists()
    assert not gone.exists() and not gone_old.exists()
