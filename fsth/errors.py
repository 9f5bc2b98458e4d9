"""One error path for both command lines (``fsth`` and ``python -m detector``).

Whatever goes wrong reaches the user as ONE line, ``PROG CMD: error: WHAT``, naming the
file and saying what to do; the traceback only with ``--verbose``. Exit codes:

  2  the command line or a config is wrong (argparse, :class:`UsageError`, a config's
     ``ConfigError``): fix the command and run it again
  1  the run failed on its files or data: missing, unreadable, not writable, corrupt
     (``OSError``, ``ValueError``, ``CheckpointError``, ...), or fsth has a bug (said so)

Commands that write check their output paths first (:func:`output_file`,
:func:`output_folder`), so a bad ``--out`` fails in a second, not after minutes of work.
"""
from __future__ import annotations

import errno
import os
import sys
import tempfile
import traceback
from pathlib import Path

USAGE, FAILED = 2, 1


class UsageError(ValueError):
    """The command line (or a config) asks for something that can't work: exit code 2."""


class InUseError(RuntimeError):
    """Another live process holds what this run needs (a run folder's lock): exit code 1."""


def run_command(prog: str, func, args, verbose: bool = False) -> int:
    """``func(args)``, with any error turned into one line on stderr and an exit code."""
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place every error is turned into a message
        if verbose:
            traceback.print_exc()
        message, code = describe(err)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return code


def describe(err: BaseException) -> tuple[str, int]:
    """The one-line message for ``err`` and the exit code it deserves."""
    if isinstance(err, UsageError):
        return _one_line(err), USAGE
    if isinstance(err, OSError):
        return _os_message(err), FAILED
    if isinstance(err, MemoryError):
        return "out of memory: try smaller inputs, a smaller batch or fewer workers", FAILED
    if isinstance(err, (ValueError, RuntimeError)):  # fsth's messages name their file
        return _one_line(err), FAILED
    return (f"internal error ({type(err).__name__}: {_one_line(err)}); run again with --verbose "
            "for the traceback and please report it"), FAILED


_ADVICE = {
    errno.ENOENT: "no such file or folder; check the path",
    errno.EACCES: "permission denied; choose a place you may use, or change its permissions",
    errno.EPERM: "operation not permitted; choose another place",
    errno.EROFS: "read-only file system; choose a writable place",
    errno.ENOSPC: "no space left on device; free some space or choose another disk",
    errno.ENAMETOOLONG: "file name too long; choose a shorter name",
    errno.EISDIR: "is a folder, not a file; give a file name",
    errno.ENOTDIR: "part of this path is a file, not a folder; choose another path",
    errno.EEXIST: "already exists and is not a folder; choose another name",
}


def _os_message(err: OSError) -> str:
    advice = _ADVICE.get(err.errno, err.strerror or _one_line(err))
    if err.filename is None:
        return advice if err.strerror else _one_line(err)
    return f"{err.filename}: {advice}"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check before any work that ``path`` can be written as a file: not a folder, in a folder
    that exists (created if missing) and can be written."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name (one inside that folder will do)")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: {path.parent} is a file, not a folder")
    output_folder(path.parent, flag)
    return path


def output_folder(path: str | os.PathLike, flag: str = "OUT") -> Path:
    """Check before any work that ``path`` is (or can be made) a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder; give a folder name")
    path.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None  # the folder, not a random name
    return path

