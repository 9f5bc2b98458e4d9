"""Where fsth keeps what it fetches and measures: one folder per user, movable by environment."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$FSTH_CACHE``, else the user's cache folder for fsth as platformdirs finds it on this
    system: ``$XDG_CACHE_HOME/fsth`` or ``~/.cache/fsth`` on Linux, ``~/Library/Caches/fsth``
    on macOS, ``%LOCALAPPDATA%\\fsth\\Cache`` on Windows."""
    if os.environ.get("FSTH_CACHE"):
        return Path(os.environ["FSTH_CACHE"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("fsth", appauthor=False))


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex): checksums of fetched samples, cache keys of models."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
