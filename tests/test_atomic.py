"""stackseg.atomic: an output is either the old one or the new one, never half of one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stackseg import atomic
from stackseg.errors import BusyError


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


def test_exclusive_refuses_a_second_holder_and_leaves_no_lock_file(tmp_path):
    target = tmp_path / "data" / "prepared"
    lock = tmp_path / "data" / ".prepared.lock"
    with atomic.exclusive(target, "prepare"):
        assert lock.read_text() == f"{os.getpid()}\n"
        # flock is per open file: a second open in this very process is refused too
        with pytest.raises(BusyError) as busy, atomic.exclusive(target, "prepare"):
            pass
        assert busy.value.problems == [
            f"{target}: another `stackseg prepare` (pid {os.getpid()}) is writing it; "
            "wait for it to finish (or stop it) and rerun"
        ]
        assert busy.value.exit_code == 5
    assert not lock.exists()
    with atomic.exclusive(target, "prepare"):  # free again
        assert lock.exists()


def test_exclusive_lock_of_a_killed_holder_is_free(tmp_path):
    target = tmp_path / "prepared"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from stackseg import atomic\n"
            f"with atomic.exclusive({str(target)!r}, 'prepare'):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(BusyError), atomic.exclusive(target, "prepare"):
            pass
    finally:
        holder.kill()
        holder.wait(10)
    assert (tmp_path / ".prepared.lock").exists()  # left by kill -9, and not stale:
    with atomic.exclusive(target, "prepare"):
        pass


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("data/.prepared.tmp-12-ab3/train/images/x.jpg", "data/prepared"),
        ("/abs/data/.prepared.old-12-ab3", "/abs/data/prepared"),
        ("data/.prepared.lock", "data/prepared"),
        ("metrics/.evaluate.json.tmp-7-q", "metrics/evaluate.json"),
        ("data/prepared/train/images/x.jpg", "data/prepared/train/images/x.jpg"),
        ("data/.hidden", "data/.hidden"),
    ],
)
def test_public_path_shows_the_target_of_a_temporary_path(path, shown):
    assert atomic.public_path(path) == shown


def test_a_write_error_without_a_file_name_names_the_target(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(OSError) as failed, atomic.replacing(target) as temp:
        temp.write_text("half")
        raise OSError(28, "No space left on device")
    assert failed.value.filename == str(target)
    assert _hidden(tmp_path) == [] and not target.exists()
