"""Advisory file locks (flock) that say "someone is working on this" without a server.

A lock belongs to the process that holds the open file, and the kernel drops it when that
process dies however it dies (SIGKILL included). So "is this run still training?" is answered by
trying the run's lock, never by a process id that the system may have reused.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
from pathlib import Path

SET_ASIDE_PREFIX = ".set-aside-"  # an odd file found where a lock belongs is renamed to this, then skipped


class HeldLock:
    """An exclusive lock held until `release()` or the process ends."""

    def __init__(self, path: Path, fd: int, partner: "HeldLock | None" = None):
        self.path = path
        self.fd = fd
        self.partner = partner  # a second lock let go of with this one (a run's folder)

    def release(self, unlink: bool = False) -> None:
        if self.partner is not None:
            self.partner.release()
            self.partner = None
        if self.fd < 0:
            return
        if unlink:
            # Unlink while still holding it: a newcomer then creates a fresh file and never
            # waits on an inode that is about to disappear.
            Path(self.path).unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> "HeldLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_lock(path: Path) -> HeldLock | None:
    """Take the exclusive lock at `path` without waiting; None if another process holds it.
    Something else at `path` (a folder, a FIFO, a device) is set aside first: a lock file is
    ours to make, and an odd one never stops the run or the scheduler it belongs to."""
    path = Path(path)
    ensure_folder(path.parent)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ELOOP, errno.ENXIO, errno.EACCES, errno.EPERM):
                set_aside(path)
                continue
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            set_aside(path)
            continue
        return _hold(fd, path)
    raise OSError(errno.EEXIST, f"{path}: something that is not a lock file keeps coming back here")


def ensure_folder(path: Path) -> None:
    """`path` as a folder: something else there (a FIFO, a file) is set aside first."""
    path = Path(path)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            set_aside(path)
    except FileNotFoundError:
        pass
    path.mkdir(parents=True, exist_ok=True)


def set_aside(path: Path) -> Path | None:
    """Rename an odd file out of the way (hidden, so listings skip it); None if it is gone already."""
    target = path.with_name(f"{SET_ASIDE_PREFIX}{path.name}-{secrets.token_hex(4)}")
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    return target


def try_lock_folder(path: Path) -> HeldLock | None:
    """The exclusive lock of a folder itself (flock on its descriptor): nobody can delete it from
    under its holder the way a lock file can be. None if another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    return _hold(fd, Path(path))


def _hold(fd: int, path: Path) -> HeldLock | None:
    """The exclusive lock on open descriptor `fd`, or None (and `fd` closed) if another process
    holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return HeldLock(path, fd)


def is_folder_held(path: Path) -> bool:
    """True while some process holds the lock of the folder at `path` (try_lock_folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    return _probe(fd, lambda: None)


def is_held(path: Path) -> bool:
    """True while some process holds the lock at `path`. A missing file is never held, and
    probing never creates one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    return _probe(fd, lambda: stat.S_ISREG(os.fstat(fd).st_mode))  # a FIFO or a folder is nobody's lock


def _probe(fd: int, is_lock_file) -> bool:
    """Whether another process holds an exclusive lock on `fd` (a momentary shared lock fails);
    closes `fd`. `is_lock_file()` False (a FIFO, a folder where a file belongs) reads as not held;
    None skips that check."""
    try:
        if is_lock_file() is False:
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)
    return False
