"""OS errors during `stackseg prepare`: a full disk (in a worker and inline, and at the
manifest write), an unreadable raw folder, a read-only output folder, an over-long stack
name. Each ends with one line `stackseg prepare: error: <path>: <reason>; <what to do>`,
its exit code, no traceback, no temporary output left and the previous output untouched.

A full or read-only disk is a small tmpfs (mounting needs root: skipped with the reason
where the mount fails). Root ignores file permissions, so the unreadable-folder case drops
the capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) with setpriv.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackseg.errors import OS_ERROR_EXIT
from tests.prepare.stacks import make_raw, tree, write_params

ENOSPC_LINE = (
    "stackseg prepare: error: {}: No space left on device; "
    "free space there (or point paths in params.yaml elsewhere) and rerun"
)


def _prepare(root: Path, prefix: tuple[str, ...] = (), *options: str) -> tuple[int, list[str], str]:
    """`stackseg [options] prepare` in a subprocess: (exit code, its error lines, stderr)."""
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "stackseg.cli", *options, "prepare"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if ": error:" in line]
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, errors, proc.stderr


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[callable]:
    """mount(name, options) -> a new tmpfs under tmp_path; unmounted at the end."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(folder: Path) -> None:
    """Take every free block of folder's file system."""
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_disk_while_writing_pairs_is_one_line(tmp_path, tmpfs, workers):
    disk = tmpfs("disk", "size=2m")
    make_raw(tmp_path, stacks=1, frames=2, height=32, width=32)
    write_params(tmp_path, prepared=f"{disk}/prepared", workers=workers)
    assert _prepare(tmp_path)[0] == 0
    before = tree(disk / "prepared")
    # then 3 more stacks of ~2.4 MB of pairs: the disk fills up while they are written
    make_raw(tmp_path, stacks=4, frames=50, height=128, width=128, seed=1)
    code, errors, _ = _prepare(tmp_path)
    assert code == OS_ERROR_EXIT
    assert errors == [ENOSPC_LINE.format(disk / "prepared")]
    assert sorted(p.name for p in disk.iterdir()) == ["prepared"]  # no temp, no lock
    assert tree(disk / "prepared") == before


@pytest.mark.slow
def test_a_full_disk_at_the_manifest_write_is_one_line(tmp_path, tmpfs):
    disk = tmpfs("disk", "size=1m")
    make_raw(tmp_path, stacks=3, frames=2, height=32, width=32)
    write_params(tmp_path, prepared=f"{disk}/prepared")
    assert _prepare(tmp_path)[0] == 0
    before = tree(disk / "prepared")
    # the rerun hard-links every pair (no block needed): only its manifest needs space
    _fill(disk)
    code, errors, err = _prepare(tmp_path, (), "-v")
    assert "all jobs done" in err and "manifest written" not in err  # where it failed
    assert code == OS_ERROR_EXIT
    assert errors == [ENOSPC_LINE.format(disk / "prepared")]
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "prepared"]
    assert tree(disk / "prepared") == before


def test_a_read_only_output_folder_is_one_line(tmp_path, tmpfs):
    read_only = tmpfs("read-only", "size=1m,ro")
    make_raw(tmp_path, stacks=2, frames=2)
    write_params(tmp_path, prepared=f"{read_only}/prepared")
    code, errors, _ = _prepare(tmp_path)
    assert code == OS_ERROR_EXIT
    assert errors == [
        f"stackseg prepare: error: {read_only}: Read-only file system; the file "
        "system is read-only: make it writable or point paths in params.yaml at a writable folder"
    ]
    assert not any(read_only.iterdir())


def _without_root_powers() -> tuple[str, ...]:
    """A command prefix under which file permissions apply (empty when not root)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file permissions and setpriv (util-linux) is missing")
    prefix = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop root's file-permission capabilities: {probe.stderr.strip()}")
    return prefix


def test_an_unreadable_masks_folder_is_one_line(tmp_path):
    prefix = _without_root_powers()
    raw = make_raw(tmp_path, stacks=2, frames=2)
    write_params(tmp_path)
    masks = raw / "masks"
    masks.chmod(0)
    try:
        code, errors, _ = _prepare(tmp_path, prefix)
    finally:
        masks.chmod(0o755)
    assert code == OS_ERROR_EXIT
    assert errors == [
        "stackseg prepare: error: data/raw/masks: Permission denied; "
        "check its permissions and owner (ls -ld) and rerun"
    ]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]


def test_an_unsearchable_raw_folder_is_not_taken_for_a_missing_one(tmp_path):
    prefix = _without_root_powers()
    raw = make_raw(tmp_path, stacks=2, frames=2)
    write_params(tmp_path)
    raw.chmod(0o600)  # listed, not searched: raw/images cannot even be looked up
    try:
        code, errors, _ = _prepare(tmp_path, prefix)
    finally:
        raw.chmod(0o755)
    assert code == OS_ERROR_EXIT
    assert errors == [
        "stackseg prepare: error: data/raw/images: Permission denied; "
        "check its permissions and owner (ls -ld) and rerun"
    ]


def test_a_stack_name_too_long_for_its_pair_files_is_found_before_any_pixel_work(tmp_path):
    name = "n" * 250
    raw = make_raw(tmp_path, stacks=2, frames=2)
    for kind in ("images", "masks"):
        (raw / kind / "s1.tif").rename(raw / kind / f"{name}.tif")
    write_params(tmp_path)
    code, errors, _ = _prepare(tmp_path)
    assert code == 3
    assert errors == [
        f"stackseg prepare: error: data/raw/images/{name}.tif: the stack name is 250 "
        "characters, too long for its pair files (260 > 255 bytes); rename the stack to at "
        "most 245 characters"
    ]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]
