"""Region masks of SynthHeads clips: stored in the clip file beside the frames, read back per frame.

Every clip that :func:`~fsth.data.synthetic.dataset.write_clip` writes holds the exact regions of
its frames (``Renderer.render(pose, masks=True)``: mouth, teeth, eyes, eyelids, head) as one extra
array of the clip format (:mod:`fsth.io.clips`):

  masks  uint8 (T, R, S, ceil(S / 8)): the bool masks (T, R, S, S), np.packbits along the last axis

with the R region names, in order, in the metadata's ``mask_regions``. Packed, a 64 px frame's five
masks take 2.5 KB. Clips written before masks were stored have none: :func:`load_masks` says so.

    masks = load_masks("data/synth/synth00042/clip01.npz", [0, 5])   # {"mouth": bool (2, S, S), ...}
"""
from __future__ import annotations

import os

import numpy as np

from ...io.clips import ClipError, load_array, read_meta

MASKS_KEY = "masks"  # the clip's array of packed masks
REGIONS_KEY = "mask_regions"  # the metadata's list of region names, in the array's order


def pack_masks(masks: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """{name: bool (T, S, S)} -> (uint8 (T, R, S, ceil(S / 8)), the R names in that order)."""
    names = list(masks)
    stacked = np.stack([np.asarray(masks[name], bool) for name in names], axis=1)
    return np.packbits(stacked, axis=-1), names


def load_masks(path: str | os.PathLike, indices=None) -> dict[str, np.ndarray]:
    """A SynthHeads clip's region masks {name: bool (T, S, S)}, of all frames or of ``indices``.

    Raises :class:`~fsth.io.clips.ClipError` naming the file if it has no masks (a clip that is
    not SynthHeads', or written before masks were stored) or they don't fit its frames.
    """
    meta = read_meta(path)
    names = meta.get(REGIONS_KEY)
    if not isinstance(names, list) or not names:
        raise ClipError(f"{path}: no region masks in this clip (only SynthHeads clips written with "
                        "fsth.data.synthetic since masks were added have them)")
    packed = load_array(path, MASKS_KEY)
    frames, height, width = meta["num_frames"], meta["height"], meta["width"]
    if packed.dtype != np.uint8 or packed.shape != (frames, len(names), height, (width + 7) // 8):
        raise ClipError(f"{path}: region masks of shape {packed.shape} ({packed.dtype}) don't fit "
                        f"{frames} frames of {width}x{height} and {len(names)} regions")
    indices = np.arange(frames) if indices is None else np.asarray(indices, np.int64).reshape(-1)
    if len(indices) and (indices.min() < 0 or indices.max() >= frames):
        raise ClipError(f"{path}: asked for the masks of frame {int(indices.max())}, the clip has {frames}")
    masks = np.unpackbits(packed[indices], axis=-1, count=width).astype(bool)
    return {name: masks[:, i] for i, name in enumerate(names)}
