"""The on-disk clip format that every part of fsth reads and writes.

One ``.npz`` file per clip (no pickles: ``np.load(allow_pickle=False)``) holding
  jpeg       uint8 (bytes of T JPEG frames, concatenated)
  offsets    int64 (T + 1,): frame t is jpeg[offsets[t]:offsets[t + 1]]
  landmarks  float32 (T, 68, 2): x then y, in crop pixels
  meta       uint8: UTF-8 JSON (identity, video, source, boxes, backend, size, fps, ...)
and any extra arrays a writer adds under names of its own (``save_clip(..., arrays=...)``, read
back with :func:`load_array`; e.g. SynthHeads' region masks); readers of frames ignore them.
Frames are decoded on demand, so an episode reading K + 1 frames of a clip decodes only those.

A clip is checked when it is written and when it is read; a file that fails a check raises
:class:`ClipError` naming the file and the fault, and readers of whole datasets (training,
``fsth inspect``, evaluation) skip such a clip with one warning (:class:`SkippedClips`)
instead of stopping.
"""
from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .atomic import atomic_write

CLIP_SUFFIX = ".npz"
FORMAT_VERSION = 1
_OWN = ("jpeg", "offsets", "landmarks", "meta")  # the arrays of every clip
MAX_SIDE = 4096  # face crops are 64-1024 px; a clip claiming more is damaged (and would exhaust memory)
log = logging.getLogger(__name__)


class ClipError(ValueError):
    """A clip file that can't be used; the message names the file and what is wrong."""


class Clip(NamedTuple):
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (T, 68, 2) float32, x then y, crop pixels
    meta: dict


def save_clip(path: str | os.PathLike, frames: np.ndarray, landmarks: np.ndarray, meta: dict,
              quality: int = 95, arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write a clip atomically (temp file, then rename): a crash never leaves half a clip.

    Refuses (ClipError naming ``path``) what a reader would choke on later: no frames,
    frames that are not uint8 (T, H, W, 3), landmarks that are not (T, 68, 2) or not finite.
    ``arrays``: extra named arrays to store beside them (not object arrays, not the clip's own names).
    """
    arrays = {name: np.asarray(value) for name, value in (arrays or {}).items()}
    for name, value in arrays.items():
        if name in _OWN or not name.isidentifier() or value.dtype.hasobject:
            raise ClipError(f"{path}: can't store an extra array named {name!r} of {value.dtype}")
    frames = np.asarray(frames)
    landmarks = np.asarray(landmarks, np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames) \
            or max(frames.shape[1:3]) > MAX_SIDE:
        raise ClipError(f"{path}: frames must be uint8 (T >= 1, H, W <= {MAX_SIDE}, 3), got {frames.dtype} {frames.shape}")
    if landmarks.shape != (len(frames), 68, 2):
        raise ClipError(f"{path}: landmarks must be ({len(frames)}, 68, 2) like the frames, got {landmarks.shape}")
    if not np.isfinite(landmarks).all():
        raise ClipError(f"{path}: landmarks of {_bad_frames(landmarks)} are NaN or infinite")
    encoded = []
    for frame in frames:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ClipError(f"{path}: JPEG encoding failed")
        encoded.append(buf.reshape(-1))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int64)
    meta = {**meta, "format_version": FORMAT_VERSION, "num_frames": len(frames),
            "height": int(frames.shape[1]), "width": int(frames.shape[2]), "jpeg_quality": int(quality)}
    meta_bytes = np.frombuffer(json.dumps(meta, default=_jsonable).encode(), np.uint8)
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, jpeg=np.concatenate(encoded), offsets=offsets, landmarks=landmarks, meta=meta_bytes,
                 **arrays)
    return path


def load_clip(path: str | os.PathLike, indices=None) -> Clip:
    """Read a clip: frames (T, H, W, 3) uint8, landmarks (T, 68, 2) float32, meta dict.

    indices: optional frame indices to decode (random access); default all frames.
    Raises :class:`ClipError` naming the file for anything unreadable or inconsistent.
    """
    with _open(path) as data:
        meta, offsets, landmarks = _checked(path, data)
        jpeg = _member(path, data, "jpeg")
    if len(jpeg) != offsets[-1]:
        raise ClipError(f"{path}: offsets end at byte {offsets[-1]} but the frames hold {len(jpeg)} bytes")
    num_frames = len(landmarks)
    indices = np.arange(num_frames) if indices is None else np.asarray(indices, np.int64).reshape(-1)
    if len(indices) and (indices.min() < 0 or indices.max() >= num_frames):
        raise ClipError(f"{path}: asked for frame {int(indices.max())}, the clip has {num_frames}")
    shape = (meta["height"], meta["width"], 3)
    frames = np.zeros((len(indices), *shape), np.uint8)
    for n, i in enumerate(indices):
        frames[n] = _decode(path, int(i), jpeg[offsets[i]:offsets[i + 1]], shape)
    return Clip(frames, landmarks[indices], meta)


def load_array(path: str | os.PathLike, name: str) -> np.ndarray:
    """An extra array stored with ``save_clip(..., arrays={name: ...})``; :class:`ClipError`
    naming the file if the clip has none of that name or it is damaged."""
    with _open(path) as data:
        return _member(path, data, name)


def read_meta(path: str | os.PathLike) -> dict:
    """A clip's metadata without decoding any frame, after checking what can be checked
    cheaply (offsets, landmark shape and values, frame count): a :class:`ClipError` here
    means the clip is unusable."""
    with _open(path) as data:
        return _checked(path, data)[0]


def read_landmarks(path: str | os.PathLike) -> np.ndarray:
    """A clip's landmarks (T, 68, 2) without decoding any frame (e.g. to choose frames by expression)."""
    with _open(path) as data:
        return _checked(path, data)[2]


class SkippedClips:
    """Corrupt clips met while reading a dataset: each logged once (a warning naming the file
    and the fault) and counted, so one bad file never stops a run over thousands."""

    def __init__(self):
        self.reasons: dict[str, str] = {}

    def add(self, path: str | os.PathLike, error: Exception | str) -> None:
        if str(path) not in self.reasons:
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            log.warning("skipping corrupt clip %s", message)
            self.reasons[str(path)] = message

    def load(self, path: str | os.PathLike, indices=None) -> Clip | None:
        """:func:`load_clip`, or None for a corrupt clip (recorded here)."""
        try:
            return load_clip(path, indices)
        except ClipError as err:
            self.add(path, err)
            return None

    def __len__(self) -> int:
        return len(self.reasons)

    def summary(self) -> str:
        """'' when nothing was skipped, else e.g. '2 corrupt clip(s) skipped: a.npz, b.npz'."""
        if not self.reasons:
            return ""
        names = list(self.reasons)
        return f"{len(names)} corrupt clip(s) skipped: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else "")


def readable_clips(paths, skipped: SkippedClips) -> list[tuple[Path, dict]]:
    """(path, meta) of each clip that passes :func:`read_meta`'s checks; the rest go to ``skipped``."""
    found = []
    for path in paths:
        try:
            found.append((Path(path), read_meta(path)))
        except ClipError as err:
            skipped.add(path, err)
    return found


def list_clips(root: str | os.PathLike) -> list[Path]:
    """All clip files under ``root``, sorted (temp files of unfinished writes are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    return sorted(p for p in root.rglob(f"*{CLIP_SUFFIX}") if not p.name.startswith("."))


def _open(path):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ClipError(f"{path}: not a readable fsth clip ({_reason(err)})") from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ClipError(f"{path}: not an fsth clip (a single array, not an .npz archive)")
    return data


def _member(path, data, name: str) -> np.ndarray:
    try:
        return data[name]
    except KeyError:
        raise ClipError(f"{path}: not an fsth clip (no {name!r} array)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:  # truncated or damaged member
        raise ClipError(f"{path}: damaged {name!r} array ({_reason(err)})") from err


def _checked(path, data) -> tuple[dict, np.ndarray, np.ndarray]:
    """meta, offsets and landmarks of an open clip, consistent with each other, or ClipError."""
    try:
        meta = json.loads(_member(path, data, "meta").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ClipError(f"{path}: damaged metadata ({err})") from err
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k), int) and meta[k] > 0
                                             for k in ("num_frames", "height", "width")):
        raise ClipError(f"{path}: metadata lacks positive num_frames, height and width")
    if max(meta["height"], meta["width"]) > MAX_SIDE:
        raise ClipError(f"{path}: frames of {meta['width']}x{meta['height']} pixels; clips hold face crops "
                        f"of at most {MAX_SIDE} pixels a side")
    offsets, landmarks = _member(path, data, "offsets"), _member(path, data, "landmarks")
    t = meta["num_frames"]
    if offsets.shape != (t + 1,) or offsets.dtype.kind not in "iu":
        raise ClipError(f"{path}: {t} frame(s) need {t + 1} integer offsets, found {offsets.dtype} {offsets.shape}")
    if offsets[0] != 0 or (np.diff(offsets) <= 0).any():
        raise ClipError(f"{path}: frame offsets are not increasing from 0")
    if landmarks.shape != (t, 68, 2) or landmarks.dtype.kind != "f":
        raise ClipError(f"{path}: {t} frame(s) need float landmarks ({t}, 68, 2), found {landmarks.dtype} {landmarks.shape}")
    if not np.isfinite(landmarks).all():
        raise ClipError(f"{path}: landmarks of {_bad_frames(landmarks)} are NaN or infinite")
    return meta, offsets, landmarks.astype(np.float32, copy=False)


def _decode(path, index: int, buf: np.ndarray, shape: tuple) -> np.ndarray:
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if len(buf) else None
    if image is None or image.shape != shape:
        found = "not a JPEG image" if image is None else f"{image.shape[1]}x{image.shape[0]} pixels"
        raise ClipError(f"{path}: frame {index} is damaged ({found}; expected {shape[1]}x{shape[0]})")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _bad_frames(landmarks: np.ndarray) -> str:
    bad = np.flatnonzero(~np.isfinite(landmarks).all(axis=(1, 2)))
    return f"frame(s) {', '.join(map(str, bad[:5]))}" + (" ..." if len(bad) > 5 else "")


def _reason(err: Exception) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in clip metadata")
