"""Reenactment as a library: which clips a model never saw, which frames are targets and
which are shots, and the fakes made from them. ``fsth evaluate`` and the detector study
both make their fakes here, so "a fake" means the same thing in every table.

    clips = held_out_clips("data/synth-test", model, min_frames=40)
    fake = make_fake(model, load_clip(clips[0]), FakeRecipe("ft-k8", k=8, steps=100), targets=8)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io.clips import SkippedClips, list_clips, readable_clips
from .io.tensors import resize_frames
from .landmarks.adapt import adapt_landmarks
from .train.finetune import finetune


def split_frames(num_frames: int, targets: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Target frames (evenly spread, the same for every K) and K shots drawn from the rest."""
    target = np.unique(np.linspace(0, num_frames - 1, targets + 2).round().astype(int)[1:-1])
    rest = np.setdiff1d(np.arange(num_frames), target)
    if k > len(rest):
        raise ValueError(f"K = {k} shots need {k + len(target)} frames; the clip has {num_frames}")
    shots = np.sort(np.random.default_rng([seed, k]).choice(rest, size=k, replace=False))
    return target, shots


def held_out_clips(data: str | os.PathLike, holdout=None, min_frames: int = 0, max_clips: int = 0,
                   skipped: SkippedClips | None = None) -> list[Path]:
    """Readable clips in ``data`` of the identities a model never saw, with at least
    ``min_frames`` frames. holdout: a model loaded by ``fsth.person.load_model`` (its
    checkpoint's hold-out list), a list of identities, or None for every identity."""
    if hasattr(holdout, "checkpoint_info"):
        holdout = holdout.checkpoint_info.get("holdout")
    held = set(holdout or [])
    found = readable_clips(list_clips(data), skipped if skipped is not None else SkippedClips())
    chosen = [p for p, meta in found if (not held or meta["identity"] in held) and meta["num_frames"] >= min_frames]
    return chosen[:max_clips or None]


def clip_shots(path: str | os.PathLike, k: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """K frames spread evenly over a preprocessed clip, resized to ``size``: the shots of
    ``fsth finetune --clip`` / ``animate --clip``. Returns (K, S, S, 3), (K, 68, 2)."""
    from .io.clips import load_clip

    clip = load_clip(path)
    pick = np.linspace(0, len(clip.frames) - 1, min(k, len(clip.frames))).round().astype(int)
    return resize_frames(clip.frames[pick], clip.landmarks[pick], size)


@dataclass(frozen=True)
class FakeRecipe:
    """How one kind of fake is made: K shots, fine-tuning steps (0: the meta-learned model
    as it is) and, for puppeteering, how another person's landmarks are adapted."""

    name: str
    k: int = 8
    steps: int = 0
    adapt: str | None = None  # None: self-reenactment; "none" | "relative": driven by another clip


@dataclass
class Fake:
    frames: np.ndarray  # uint8 (T, S, S, 3)
    landmarks: np.ndarray  # (T, 68, 2) the frames were asked to follow
    real: np.ndarray  # uint8 (T, S, S, 3): the real frames at the targets (self-reenactment) or the driver's
    shots: np.ndarray  # indices of the shots in the source clip
    person: object  # the fsth.person.Person that rendered them


def make_fake(model, clip, recipe: FakeRecipe, targets: int = 8, seed: int = 0, driver=None) -> Fake:
    """Fakes of ``clip``'s person: its own target frames re-rendered from K other frames, or —
    with ``recipe.adapt`` — following ``driver`` (another clip) with adapted landmarks."""
    size = model.config.image_size
    frames, landmarks = resize_frames(clip.frames, clip.landmarks, size)
    target, shots = split_frames(len(frames), targets, recipe.k, seed)
    person = finetune(model, frames[shots], landmarks[shots], steps=recipe.steps, seed=seed, progress=False)
    if recipe.adapt is None:
        wanted, real = landmarks[target], frames[target]
    else:
        if driver is None:
            raise ValueError(f"recipe {recipe.name!r} is driven by another clip: give driver=")
        drive_frames, drive_landmarks = resize_frames(driver.frames, driver.landmarks, size)
        drive, _ = split_frames(len(drive_frames), targets, 0, seed)
        wanted = adapt_landmarks(drive_landmarks[drive], landmarks[shots[0]], mode=recipe.adapt, reference="best")
        real = drive_frames[drive]
    return Fake(person.render(wanted, video=False), wanted, real, shots, person)  # evenly spread frames: stills


def fine_tuned_heads(model, frames: np.ndarray, landmarks: np.ndarray, k: int, steps: tuple[int, ...], seed: int,
                     visit) -> None:
    """``visit(n, person)`` for every n in ``steps``: the head make_fake would fine-tune for n
    steps from K of ``frames`` (``targets=1``, this ``seed``), all from one fine-tuning run
    (0, 10, …, 200 steps cost 200 steps, not 385). Render inside ``visit``: G keeps training."""
    _, shots = split_frames(len(frames), 1, k, seed)
    finetune(model, frames[shots], landmarks[shots], steps=max(steps), seed=seed, progress=False,
             snapshots=visit, snapshot_at=tuple(steps))
