"""The on-disk clip format that every part of fsth reads and writes.

One ``.npz`` file per clip (no pickles: ``np.load(allow_pickle=False)``) holding
  jpeg       uint8 (bytes of T JPEG frames, concatenated)
  offsets    int64 (T + 1,): frame t is jpeg[offsets[t]:offsets[t + 1]]
  landmarks  float32 (T, 68, 2): x then y, in crop pixels
  meta       uint8: UTF-8 JSON (identity, video, source, boxes, backend, size, fps, ...)
Frames are decoded on demand, so an episode reading K + 1 frames of a clip decodes only those.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ..io import atomic_write

CLIP_SUFFIX = ".npz"
FORMAT_VERSION = 1


class Clip(NamedTuple):
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (T, 68, 2) float32, x then y, crop pixels
    meta: dict


def save_clip(path: str | os.PathLike, frames: np.ndarray, landmarks: np.ndarray, meta: dict,
              quality: int = 95) -> Path:
    """Write a clip atomically (temp file, then rename): a crash never leaves half a clip."""
    frames = np.asarray(frames)
    landmarks = np.asarray(landmarks, np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if landmarks.shape != (len(frames), 68, 2):
        raise ValueError(f"landmarks must be ({len(frames)}, 68, 2), got {landmarks.shape}")
    encoded = []
    for frame in frames:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError("JPEG encoding failed")
        encoded.append(buf.reshape(-1))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int64)
    meta = {**meta, "format_version": FORMAT_VERSION, "num_frames": len(frames),
            "height": int(frames.shape[1]), "width": int(frames.shape[2]), "jpeg_quality": int(quality)}
    meta_bytes = np.frombuffer(json.dumps(meta, default=_jsonable).encode(), np.uint8)
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, jpeg=np.concatenate(encoded), offsets=offsets, landmarks=landmarks, meta=meta_bytes)
    return path


def load_clip(path: str | os.PathLike, indices=None) -> Clip:
    """Read a clip: frames (T, H, W, 3) uint8, landmarks (T, 68, 2) float32, meta dict.

    indices: optional frame indices to decode (random access); default all frames.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            offsets, landmarks = data["offsets"], data["landmarks"]
            jpeg, meta = data["jpeg"], json.loads(data["meta"].tobytes().decode())
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a readable fsth clip ({err})") from err
    indices = np.arange(len(offsets) - 1) if indices is None else np.asarray(indices, np.int64)
    frames = np.stack([_decode(jpeg[offsets[i]:offsets[i + 1]]) for i in indices]) if len(indices) \
        else np.zeros((0, meta["height"], meta["width"], 3), np.uint8)
    return Clip(frames, landmarks[indices], meta)


def read_meta(path: str | os.PathLike) -> dict:
    """A clip's metadata without decoding any frame."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(data["meta"].tobytes().decode())


def list_clips(root: str | os.PathLike) -> list[Path]:
    """All clip files under ``root``, sorted (temp files of unfinished writes are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    return sorted(p for p in root.rglob(f"*{CLIP_SUFFIX}") if not p.name.startswith("."))


def _decode(buf: np.ndarray) -> np.ndarray:
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in clip metadata")
