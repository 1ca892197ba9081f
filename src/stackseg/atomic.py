"""Build beside the target, then rename into place: the one way stackseg writes outputs.

Every output (prepared directory, model, model card, metrics, plots, report, synth data)
is written to a temporary path in the target's own directory (same file system, so the
final `os.replace` is atomic) and moved into place only when all of it was written. On
any failure, Ctrl-C included, the temporary path is removed and the previous target is
left as it was: a reader sees the old output or the new one, never half of one.

Temporary names are `.<target name>.tmp-<pid>-<random>`: hidden, ignored by git and DVC
(`.gitignore`, `.dvcignore`), and owned by one process, so two runs never share one. A
writer that must not run twice at once (prepare) also holds `exclusive(target)`, a lock
file `.<target name>.lock` beside the target, for the whole run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stackseg.errors import BusyError

TEMP_MARK = ".tmp-"
# a path component of a target's own: `.<target>.tmp-<pid>-<random>`, `.<target>.old-...`,
# `.<target>.lock`
_PRIVATE_NAME = re.compile(r"^\.(?P<target>.+)\.(?:(?:tmp|old)-(?P<pid>\d+)-[^/]*|lock)$")


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
    except OSError as exc:
        # a failed write (e.g. disk full) names no file: name the target (only for a real OS
        # error; filling in one built from a message alone would replace that message)
        if exc.filename is None and exc.errno is not None:
            exc.filename = str(target)
        raise
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
            match = _PRIVATE_NAME.match(stale.name)
            if match and match["target"] == target.name and _alive(int(match["pid"])):
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


@contextlib.contextmanager
def exclusive(target: str | Path, command: str) -> Iterator[None]:
    """Hold the lock of `target` (`.<name>.lock` beside it) while the block runs; raise
    BusyError naming the holder's PID if another process holds it.

    flock belongs to the open file, so the kernel releases it when the holder exits in any
    way, kill -9 included: a lock is never stale. The file is removed on release; since a
    waiting process may have opened it just before, a lock taken on a file that is no
    longer at the path is dropped and tried again.
    """
    target = Path(target)
    path = target.with_name(f".{target.name}.lock")
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            # cannot create a file there (permissions, read-only): the folder is the problem
            exc.filename = str(target.parent)
            raise
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(handle, 32, 0).decode(errors="replace").strip() or "?"
            os.close(handle)
            raise BusyError(
                f"{target}: another `stackseg {command}` (pid {owner}) is writing it; "
                "wait for it to finish (or stop it) and rerun"
            ) from None
        except BaseException:
            os.close(handle)
            raise
        try:
            if os.fstat(handle).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)  # removed by the previous holder after we opened it: try again
    try:
        # the holder's PID, for the message of a refused run; a full disk only loses that
        with contextlib.suppress(OSError):
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still locked: nobody can hold this file now
        os.close(handle)


def public_path(path: str) -> str:
    """The path a user knows for `path`: a path in a temporary (or set-aside) output, or
    its lock, is reported as that output's target, e.g. `data/.prepared.tmp-12-ab/train/x.jpg`
    -> `data/prepared` (the temporary path is gone by the time the user reads it)."""
    parts = Path(path).parts
    for index, part in enumerate(parts):
        match = _PRIVATE_NAME.match(part)
        if match:
            return str(Path(*parts[:index], match["target"]))
    return path
