"""Where fsth keeps what it fetches and measures: one folder per user, movable by environment."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$FSTH_CACHE``, else ``$XDG_CACHE_HOME/fsth``, else ``~/.cache/fsth``."""
    if os.environ.get("FSTH_CACHE"):
        return Path(os.environ["FSTH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fsth"
