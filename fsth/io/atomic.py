"""Atomic, symlink-safe file writes: the one way fsth replaces a file.

A write goes to a fresh temp file in the target's folder, created by
:func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``: it never opens a file or symlink that was
already there, and its name is random, so nobody can plant one in advance), then
``os.replace`` puts it in place in one step. A crash or an exception leaves the old target
untouched and removes the temp file; only ``kill -9`` or a power cut can leave one behind,
named ``.NAME.<random>.tmp<ext>``, which :func:`stale_temps` finds.

    with atomic_path("out/clip.mp4") as tmp:    # for writers that want a path (PyAV, Pillow, torch)
        write_somehow(tmp)
    with atomic_write("out/data.npz") as f:     # for writers that take an open file
        np.savez(f, ...)
    atomic_write_text("out/results.json", text)   # a whole text file (UTF-8)
    save_figure(fig, "out/plot.png", dpi=100)   # a matplotlib figure

A write that fails for a reason the user can fix — a full disk, a name too long, a read-only
place, no permission — raises :class:`WriteError`, one line naming the target (never the temp
file); torch.save's bare RuntimeError on a full disk is recognised by the free space left.

Nothing else in fsth or detector writes a file: tests/test_writes.py fails on any direct write.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# .NAME.<8 random chars>.tmp<ext>; also the older fixed names .NAME.tmp and .NAME.tmp<ext>
_TEMP_NAME = re.compile(r"^\.(?P<target>.+?)(?:\.[a-z0-9_]{8})?\.tmp(?:\.[^.]+)?$")
NAME_MAX = 255  # bytes in one file name on ext4, XFS, btrfs, APFS, NTFS (in UTF-16 units there)
LOW_SPACE = 16 * 2**20  # bytes free below which a writer's bare RuntimeError means a full disk
# what a user can fix, in the words the one-line message uses
WRITE_ERRORS = {errno.ENOSPC: "no space left on device", errno.ENAMETOOLONG: "file name too long",
                errno.EROFS: "read-only file system", errno.EACCES: "permission denied"}


class WriteError(OSError):
    """A write failed for a reason the user can fix; ``filename`` is the target they asked for."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield the path of a new, empty temp file next to ``target``; on success it replaces ``target``.

    The temp name ends in the target's extension, so writers that pick a format from the
    name (Pillow, PyAV) still work. The target's folder is created if needed.
    """
    target = Path(target)
    fd, tmp = _make_temp(target)
    os.close(fd)
    with _replacing(tmp, target):
        yield tmp


@contextmanager
def atomic_write(target: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO]:
    """Yield an open file (``mode`` "wb" or "w") whose contents replace ``target`` on success.

    encoding, newline: as for :func:`open`, text mode only (``newline=""`` for the csv module).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes whole files: mode 'wb' or 'w', not {mode!r}")
    if mode == "wb" and (encoding is not None or newline is not None):
        raise ValueError("atomic_write: encoding and newline are for text mode ('w') only")
    target = Path(target)
    fd, tmp = _make_temp(target)
    text = {"encoding": encoding, "newline": newline} if mode == "w" else {}
    with _replacing(tmp, target), os.fdopen(fd, mode, **text) as f:  # closed before the replace
        yield f


def atomic_write_text(target: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Replace ``target`` with ``text`` in one step (what ``Path.write_text`` does, made atomic)."""
    with atomic_write(target, "w", encoding=encoding) as f:
        f.write(text)
    return Path(target)


def save_figure(fig, target: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure to ``target`` atomically.

    The format comes from ``target``'s extension (png where it has none), as ``fig.savefig``
    would pick it; unlike ``savefig``, no extension is ever added: exactly ``target`` is written.
    """
    target = Path(target)
    from . import credentials

    fmt = savefig_kwargs.pop("format", None) or target.suffix[1:].lower() or "png"
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            fig.savefig(f, format=fmt, **savefig_kwargs)
        credentials.sign(tmp, "figure", title=target.name, format=fmt)  # signed Content Credentials: a chart
    return target


def stale_temps(folder: str | os.PathLike, older_than: float = 0.0) -> list[Path]:
    """Temp files in ``folder`` left by writes that were killed, oldest first.

    older_than: only files not modified for this many seconds (so a write still running in
    another process is left alone). Directories are never listed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    found = []
    for path in folder.iterdir():
        if not _TEMP_NAME.match(path.name):
            continue
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) and now - info.st_mtime >= older_than:
            found.append((info.st_mtime, path))
    return [path for _, path in sorted(found)]


def sweep_stale_temps(folder: str | os.PathLike, older_than: float = 0.0) -> list[Path]:
    """Delete what :func:`stale_temps` finds (a symlink is removed, never its target); return it."""
    removed = stale_temps(folder, older_than)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _make_temp(target: Path) -> tuple[int, Path]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, **_temp_affixes(target.name))
    except OSError as err:
        _raise_for_user(err, target)
        raise
    try:
        os.fchmod(fd, _mode_for(target))  # mkstemp makes 0600; keep what a plain open() would give
    except OSError:
        pass  # file systems without permissions (FAT, some mounts)
    return fd, Path(name)


def _temp_affixes(name: str) -> dict[str, str]:
    """mkstemp's prefix and suffix, ``.NAME.`` and ``.tmp.EXT``; for a name too long to grow by
    them (the temp must fit in NAME_MAX bytes too), a hash of the name stands in for it."""
    prefix, suffix = f".{name}.", ".tmp" + Path(name).suffix
    if len(os.fsencode(prefix + suffix)) + 8 > NAME_MAX:  # mkstemp adds 8 random characters
        prefix = f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}."
        suffix = suffix if len(os.fsencode(prefix + suffix)) + 8 <= NAME_MAX else ".tmp"
    return {"prefix": prefix, "suffix": suffix}


@contextmanager
def _replacing(tmp: Path, target: Path) -> Iterator[None]:
    try:
        yield
        os.replace(tmp, target)  # renames over a symlink at target; never writes through it
    except OSError as err:
        if err.filename is None or str(err.filename) in (str(tmp), str(target)):  # not a file the caller read
            _raise_for_user(err, target)
        raise
    except RuntimeError as err:  # torch.save on a full disk: "[enforce fail at ...] unexpected pos"
        if _disk_full(tmp.parent):  # checked before the temp file is removed and frees its space
            raise WriteError(errno.ENOSPC, WRITE_ERRORS[errno.ENOSPC], str(target)) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)  # after a failure; a no-op after the replace


def _raise_for_user(err: OSError, target: Path) -> None:
    """Raise :class:`WriteError` naming ``target`` if ``err`` is one the user can fix."""
    if err.errno in WRITE_ERRORS and not isinstance(err, WriteError):
        raise WriteError(err.errno, WRITE_ERRORS[err.errno], str(target)) from err


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE
    except OSError:
        return False


def _mode_for(target: Path) -> int:
    """The permissions of the file being replaced; a new file's (or a symlink's: never followed) by the umask."""
    try:
        info = os.stat(target, follow_symlinks=False)
    except OSError:
        info = None
    if info is None or stat.S_ISLNK(info.st_mode):
        return 0o666 & ~_umask()
    return stat.S_IMODE(info.st_mode)


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it and restore it
    os.umask(mask)
    return mask
