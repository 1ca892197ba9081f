"""Build beside the target, then rename into place: the one way stackseg writes outputs.

Every output (prepared directory, model, model card, metrics, plots, report, synth data)
is written to a temporary path in the target's own directory (same file system, so the
final `os.replace` is atomic) and moved into place only when all of it was written. On
any failure, Ctrl-C included, the temporary path is removed and the previous target is
left as it was: a reader sees the old output or the new one, never half of one.

Temporary names are `.<target name>.tmp-<pid>-<random>`: hidden, ignored by git and DVC
(`.gitignore`, `.dvcignore`), and owned by one process, so two runs never share one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"


def _default_mode(directory: bool) -> int:
    """What open()/mkdir() would give (mkstemp/mkdtemp make private 0600/0700 entries)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def temp_path(target: Path, directory: bool = False) -> Path:
    """A new, empty temporary file or directory beside `target` (its parents are made)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}{TEMP_MARK}{os.getpid()}-"
    if directory:
        path = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix))
    else:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix)
        os.close(fd)
        path = Path(name)
    os.chmod(path, _default_mode(directory))
    return path


def move_into_place(temp: Path, target: Path) -> None:
    """Replace `target` (file or directory, or nothing) by `temp`.

    A directory cannot be replaced in one rename when the target exists: the old one is
    first renamed aside, then removed once the new one is in place.
    """
    if temp.is_dir() and (target.exists() or target.is_symlink()):
        aside = target.with_name(f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
        os.replace(target, aside)
        os.replace(temp, target)
        _remove(aside)
    else:
        os.replace(temp, target)


@contextlib.contextmanager
def replacing(target: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `target`, on failure it is
    removed and `target` is untouched.

        with replacing(Path("metrics/evaluate.json")) as tmp:
            tmp.write_text(text)
    """
    target = Path(target)
    temp = temp_path(target, directory)
    try:
        yield temp
        move_into_place(temp, target)
    finally:
        if temp.exists() or temp.is_symlink():
            _remove(temp)


def write_text(target: str | Path, text: str) -> None:
    """Write a whole text file atomically."""
    with replacing(target) as temp:
        temp.write_text(text)


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write a whole binary file atomically."""
    with replacing(target) as temp:
        temp.write_bytes(data)


def remove_stale(target: Path) -> None:
    """Remove temporary paths beside `target` left by processes that no longer run
    (killed with SIGKILL, or the machine lost power). A live owner's are kept."""
    if not target.parent.is_dir():
        return
    for pattern in (f".{target.name}{TEMP_MARK}*", f".{target.name}.old-*"):
        for stale in target.parent.glob(pattern):
            pid = stale.name.rsplit(TEMP_MARK if TEMP_MARK in stale.name else ".old-", 1)[1]
            owner = pid.split("-", 1)[0]
            if owner.isdigit() and _alive(int(owner)):
                continue
            _remove(stale)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
