"""Landmark adaptation: let someone else's face drive a portrait without giving the
portrait their face shape (the paper's open "personality mismatch").

Faces are compared in a normalised frame: a similarity transform (scale, rotation,
shift) that puts the eye centres at fixed places. ``relative`` adds the driving face's
motion — its landmarks minus those of a reference frame, measured in the reference
frame's normalised coordinates — to the portrait's own normalised landmarks; ``none``
moves the driving landmarks as they are onto the portrait (only re-centred and rescaled).
"""
from __future__ import annotations

import numpy as np

from .parts import PARTS

ADAPT_MODES = ("relative", "none")


def similarity(points: np.ndarray) -> np.ndarray:
    """2x3 matrix mapping a face's pixels to its normalised frame: eye centres at (-0.5, 0)
    and (0.5, 0). points: (68, 2)."""
    right = points[slice(*PARTS["right_eye"][:2])].mean(axis=0)
    left = points[slice(*PARTS["left_eye"][:2])].mean(axis=0)
    centre, axis = (right + left) / 2, left - right
    scale = np.linalg.norm(axis)
    if scale < 1e-6:
        raise ValueError("degenerate landmarks: the eyes coincide")
    cos, sin = axis / scale**2  # rotation by -angle and scaling by 1/scale
    rot = np.array([[cos, sin], [-sin, cos]])
    return np.concatenate([rot, -(rot @ centre)[:, None]], axis=1)


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert(matrix: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(matrix[:, :2])
    return np.concatenate([inv, -(inv @ matrix[:, 2])[:, None]], axis=1)


def best_reference(driving: np.ndarray, portrait: np.ndarray) -> int:
    """Index of the driving frame whose normalised shape is closest to the portrait's
    (similar pose and expression make the cleanest reference)."""
    target = apply(similarity(portrait), portrait)
    errors = [np.abs(apply(similarity(p), p) - target).mean() for p in driving]
    return int(np.argmin(errors))


def adapt_landmarks(driving: np.ndarray, portrait: np.ndarray, mode: str = "relative",
                    reference: int | str = 0) -> np.ndarray:
    """Landmarks for the portrait that follow the driving video.

    driving: (T, 68, 2) in driving-video pixels; portrait: (68, 2) in portrait pixels.
    reference: index of the driving frame that matches the portrait's expression, or
    "best" to pick the closest one. Returns (T, 68, 2) in portrait pixels.
    """
    if mode not in ADAPT_MODES:
        raise ValueError(f"unknown adaptation {mode!r}; choose from {ADAPT_MODES}")
    driving = np.asarray(driving, np.float32)
    portrait = np.asarray(portrait, np.float32)
    ref = best_reference(driving, portrait) if reference == "best" else int(reference)
    to_driving_norm = similarity(driving[ref])
    from_portrait_norm = invert(similarity(portrait))
    moved = np.stack([apply(to_driving_norm, p) for p in driving])  # (T, 68, 2), normalised
    if mode == "relative":
        moved = apply(similarity(portrait), portrait) + (moved - moved[ref])
    return np.stack([apply(from_portrait_norm, p) for p in moved])
