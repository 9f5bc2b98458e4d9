""""Unseen by the generator", checked rather than assumed.

A fake of a person the generator trained on is easier to make (and to catch) than one of a
stranger, so the study's test faces must be new to it. Two checks, for each generator of the
study (``--checkpoint`` and ``--other``):

- **By identity** (:func:`generator_training_keys`): SynthHeads identities by (seed, index) and
  by a hash of their parameters, read from the generator's training data folder (``--data``,
  default the folder its checkpoint names). A missing folder is an error (:class:`UncheckedError`)
  unless the user waives the check (``--unseen-unchecked``); the report then says "not checked".
- **By picture** (:func:`near_duplicates`): a 64-bit perceptual hash of every frame (DCT of a
  32x32 grey thumbnail, :func:`phash`) of the study's real faces against every training frame;
  a Hamming distance of at most :data:`NEAR` bits is a near-duplicate (the same frame survives
  JPEG q60 and a 2x resize within 4 bits; different SynthHeads identities stay 6 or more apart).

Nothing compared is never reported as "0 %": a share is None when no training frame was read.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from fsth.errors import UsageError

log = logging.getLogger(__name__)
NEAR = 4  # Hamming distance (bits of 64) at or below which two frames are near-duplicates
MAX_TRAINING_FRAMES = 500_000  # frames hashed per training folder (more: spread evenly, said in the log)


class UncheckedError(UsageError):
    """The generator's training data can't be found, so "unseen" can't be checked: exit code 2,
    fixed by ``--data DIR`` or waived with ``--unseen-unchecked``."""


def params_hash(params: dict) -> str:
    """A content hash of a SynthHeads identity's parameters (the person, not the name)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=float).encode()).hexdigest()[:16]


def phash(frames: np.ndarray) -> np.ndarray:
    """64-bit perceptual hashes of uint8 RGB frames (T, H, W, 3): the signs of the 8x8 lowest DCT
    coefficients of a 32x32 grey thumbnail against their median. Returns uint64 (T,)."""
    out = np.zeros(len(frames), np.uint64)
    weights = (np.uint64(1) << np.arange(64, dtype=np.uint64))
    for i, frame in enumerate(frames):
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)
        low = cv2.dct(cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA))[:8, :8].ravel()
        bits = (low > np.median(low[1:])).astype(np.uint64)
        out[i] = np.bitwise_or.reduce(bits * weights)
    return out


def hamming_to_nearest(hashes: np.ndarray, against: np.ndarray, block: int = 4_000_000) -> np.ndarray:
    """For each hash, the Hamming distance to its nearest hash in ``against`` (64 when empty);
    compared ``block`` pairs at a time (memory stays flat)."""
    hashes, against = np.asarray(hashes, np.uint64), np.asarray(against, np.uint64)
    if not len(against):
        return np.full(len(hashes), 64, np.int64)
    best = np.empty(len(hashes), np.int64)
    chunk = max(1, block // len(against))
    for i in range(0, len(hashes), chunk):
        best[i:i + chunk] = np.bitwise_count(hashes[i:i + chunk, None] ^ against[None]).min(1)
    return best


def training_folder(model, data: str | Path | None = None) -> Path | None:
    """The generator's training data folder: ``data``, else the one its checkpoint names."""
    named = data or getattr(model, "checkpoint_info", {}).get("train_config", {}).get("data")
    return Path(named) if named else None


def generator_training_keys(model, data: str | Path | None = None, waive: bool = False, flag: str = "--data",
                            name: str = "the generator") -> dict:
    """What the generator trained on, read from its training data folder (``data``, default the
    checkpoint's ``train_config['data']``): SynthHeads (seed, index) pairs and identity hashes,
    and the perceptual hash of every frame (``frames``: uint64). ``checked`` says what was
    checked, in words; ``folder`` is None when nothing was.

    A folder that isn't there raises :class:`UncheckedError` unless ``waive``: then nothing is
    checked and ``checked`` says so."""
    from fsth.io.clips import list_clips, load_clip

    folder = training_folder(model, data)
    keys = {"synth": set(), "hashes": set(), "frames": np.zeros(0, np.uint64), "folder": None, "clips": 0,
            "checked": "not checked"}
    if folder is None or not folder.is_dir():
        where = f"{folder}" if folder else "(its checkpoint names none)"
        if not waive:
            raise UncheckedError(f"{flag}: {name}'s training data {where} is not here, so the study can't check "
                                 f"that its test faces are unseen by it; give {flag} DIR (the folder it trained on), "
                                 "or --unseen-unchecked to run anyway (the report then says 'not checked')")
        keys["checked"] = f"not checked: training data {where} not found (--unseen-unchecked)"
        return keys
    clips = list_clips(folder)
    per_clip = max(1, MAX_TRAINING_FRAMES // max(1, len(clips)))
    hashes = []
    for path in clips:
        clip = load_clip(path)
        meta = clip.meta
        if meta.get("synthetic"):
            keys["synth"].add((int(meta["seed"]), int(meta["identity_index"])))
            if "identity_params" in meta:
                keys["hashes"].add(params_hash(meta["identity_params"]))
        frames = clip.frames
        if len(frames) > per_clip:
            frames = frames[np.linspace(0, len(frames) - 1, per_clip).round().astype(int)]
        hashes.append(phash(frames))
    keys["frames"] = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    keys["folder"], keys["clips"] = str(folder), len(clips)
    keys["checked"] = (f"{len(keys['synth'])} SynthHeads identities by (seed, index) and parameter hash, and "
                       f"{len(keys['frames'])} frames of {len(clips)} clips by perceptual hash, in {folder}")
    return keys


def merge(keys: list[dict]) -> dict:
    """The training keys of several generators as one (a face must be unseen by every one)."""
    folders = [k["folder"] for k in keys if k["folder"]]
    return {"synth": set().union(*(k["synth"] for k in keys)), "hashes": set().union(*(k["hashes"] for k in keys)),
            "frames": np.concatenate([k["frames"] for k in keys]), "folder": "; ".join(folders) or None,
            "clips": sum(k["clips"] for k in keys), "checked": "; ".join(k["checked"] for k in keys)}


def near_duplicate_share(frames: np.ndarray, keys: dict | None) -> float | None:
    """Share of ``frames`` with a near-duplicate among the generator's training frames (Hamming
    distance <= :data:`NEAR`); None when no training frame was read (not "0 %": not checked)."""
    if not keys or not len(keys.get("frames", ())) or not len(frames):
        return None
    return float((hamming_to_nearest(phash(frames), keys["frames"]) <= NEAR).mean())


def near_duplicates(parts: dict, keys: dict | None) -> dict:
    """{part: {"frames": n real frames, "share": near-duplicate share or None}} of the real faces
    (label 0) of each of the study's parts ({part: (FaceSet, rows)}), and per real sample video
    ({"clips": {identity: share}}) where the part "clips" is there."""
    out = {}
    for part, (faces, _) in parts.items():
        real = faces.labels == 0
        if not real.any():
            continue
        out[part] = {"frames": int(real.sum()), "share": near_duplicate_share(faces.images[real], keys)}
        if part == "clips":
            out[part]["by_video"] = {
                str(who): near_duplicate_share(faces.images[real & (faces.identities == who)], keys)
                for who in np.unique(faces.identities[real])}
    return out
