"""What ``fsth preprocess`` made each clip from: ``OUT/manifest.json`` keeps every clip's source
and the SHA-256 of its content, so a re-run redoes a source that changed and drops the clip of one
that is gone, instead of trusting that a clip's name still means the same input.

    {"format": "fsth-preprocess-manifest-1",
     "clips": {"alice.npz": {"source": "/abs/src/alice", "sha256": "..."}},
     "files": {"/abs/src/alice/a.jpg": {"size": 123, "mtime_ns": ..., "ctime_ns": ..., "sha256": "...",
                                        "hashed_at": 1700000000.0}}}

A folder of images hashes the names and hashes of the images it holds. Hashing a dataset of videos
again on every run would read it all, so ``files`` remembers each file's hash with its size and
times: a file whose size, mtime and ctime (which no tool can set back) are unchanged keeps its
hash, unless it was changed within :data:`RACY_SECONDS` of being hashed (a coarse clock can't tell).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from ..io.atomic import atomic_write_text
from ..io.images import list_images

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
FORMAT = "fsth-preprocess-manifest-1"
RACY_SECONDS = 2.0  # a file changed this soon after it was hashed is hashed again (coarse file-system clocks)
CHUNK = 2 ** 20


class Manifest:
    """The manifest of one output folder: ``clips`` (output name -> source and hash) and a stat cache."""

    def __init__(self, root: str | os.PathLike):
        self.path = Path(root) / MANIFEST
        self.clips: dict[str, dict] = {}
        self._cache: dict[str, dict] = {}
        self._used: dict[str, dict] = {}  # the cache entries of files hashed or checked in this run
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        try:
            state = json.loads(self.path.read_text())
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError("not an fsth preprocess manifest")
            clips, files = state.get("clips", {}), state.get("files", {})
            if not isinstance(clips, dict) or not isinstance(files, dict):
                raise ValueError("clips and files must be mappings")
        except (OSError, UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
            log.warning("%s: unreadable (%s); every source is hashed again and no clip is dropped", self.path, err)
            return
        self.clips = {k: v for k, v in clips.items() if isinstance(v, dict) and {"source", "sha256"} <= set(v)}
        self._cache = {k: v for k, v in files.items() if isinstance(v, dict)}

    def content_hash(self, source: str | os.PathLike, kind: str) -> str | None:
        """SHA-256 of a source file, or of a folder's images (their names and contents); None if unreadable."""
        try:
            if kind != "images":
                return self._file_hash(Path(source))
            lines = "".join(f"{p.name}\t{self._file_hash(p)}\n" for p in list_images(source))
            return hashlib.sha256(lines.encode()).hexdigest()
        except (OSError, ValueError):
            return None  # the job itself will fail on it, naming the reason

    def _file_hash(self, path: Path) -> str:
        key = str(path.resolve())
        info = os.stat(path)
        stamp = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "ctime_ns": info.st_ctime_ns}
        known = self._cache.get(key, {})
        racy = known.get("hashed_at", 0) - info.st_mtime_ns / 1e9 < RACY_SECONDS
        if not racy and all(known.get(k) == v for k, v in stamp.items()) and isinstance(known.get("sha256"), str):
            self._used[key] = known
            return known["sha256"]
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        self._used[key] = {**stamp, "sha256": digest.hexdigest(), "hashed_at": time.time()}
        return self._used[key]["sha256"]

    def save(self) -> None:
        """Write the manifest atomically (none for a run that made no clip); the stat cache forgets
        files that are gone."""
        if not self.clips and not self.path.exists():
            return
        files = {**{k: v for k, v in self._cache.items() if os.path.isfile(k)}, **self._used}
        state = {"format": FORMAT, "clips": dict(sorted(self.clips.items())), "files": dict(sorted(files.items()))}
        atomic_write_text(self.path, json.dumps(state, indent=1) + "\n")


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether ``path`` is ``root`` or lies under it (both resolved)."""
    path, root = Path(path).resolve(), Path(root).resolve()
    return path == root or root in path.parents
