"""One writer per run folder: ``fsth train`` holds ``RUN/.train.lock`` while it runs.

Two runs writing into one folder would interleave checkpoints and overwrite each other's
metrics, so the second is refused with one line naming the first one's pid
(:class:`~fsth.errors.InUseError`, exit code 1). The lock is an ``fcntl.flock`` on the lock
file, which holds the holder's pid and host: the kernel drops it when its process dies, however
it dies, so a lock file left by a killed run is taken over (with a warning naming the dead pid)
and never needs deleting by hand. Released, and the file removed, when the run ends, also on an
exception. Without ``fcntl`` (Windows) run folders are not locked.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path

from ..errors import InUseError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger(__name__)
LOCK_NAME = ".train.lock"
# no planted symlink is followed, and programs the run starts don't inherit the lock
_SAFE_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class RunLock:
    """The lock of one run folder: ``with RunLock(out): ...``, or :meth:`acquire` / :meth:`release`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`InUseError` naming the live process that holds it."""
        if self._fd is not None or fcntl is None:  # held already; or no flock (Windows): not locked
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _SAFE_FLAGS, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = _holder(fd)
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise InUseError(f"{self.folder}: another fsth train is writing into this run folder "
                                 f"({holder or 'one that has just started'}); wait for it to end or stop "
                                 "it, or give another --out") from None
            if _still_there(fd, self.path):
                break
            os.close(fd)  # its holder released it (and removed the file) meanwhile: lock the new one
        self._fd = fd
        try:
            left = _holder(fd)
            if left:
                log.warning("%s: took over the lock left by %s, which ended without releasing it", self.folder, left)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Remove the lock file and let go of the lock (a no-op when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still held: a run that opened it meanwhile locks anew
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    """Who the lock file says holds it: "pid 123" ("pid 123 on host h" from another machine); "" if empty."""
    try:
        words = os.pread(fd, 256, 0).decode(errors="replace").split()
    except OSError:
        words = []
    if not words:
        return ""
    host = f" on host {words[1]}" if len(words) > 1 and words[1] != socket.gethostname() else ""
    return f"pid {words[0]}{host}"


def _still_there(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not removed or replaced since it was opened)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False
