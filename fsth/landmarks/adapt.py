"""Landmark adaptation: let someone else's face drive a portrait without giving the
portrait their face shape (the paper's open "personality mismatch").

Faces are compared in a normalised frame: a similarity transform (scale, rotation,
shift) that puts the eye centres at fixed places. ``relative`` adds the driving face's
motion — its landmarks minus those of a reference frame, measured in the reference
frame's normalised coordinates — to the portrait's own normalised landmarks; ``none``
moves the driving landmarks as they are onto the portrait (only re-centred and rescaled).

Eyes are retargeted (``eyes="retarget"``, LivePortrait's idea without its network): adding the
driver's lid motion to the portrait's lids closes the portrait's eyes only as far as the
driver's lids travelled from the reference frame — half-way, when the driver's reference eyes
are half shut — so instead each eye's lid gap is set to the portrait's open gap times how open
the driver's eye is, as a share of the driver's own open eye (its 90th percentile over the clip,
or a value the caller keeps, e.g. live). A portrait with shut eyes keeps the relative motion.

The mouth is retargeted too (``mouth="retarget"``, LivePortrait's lip retargeting without its
network): relative motion opens the portrait's lips by the driver's gap *minus the reference
frame's*. When the reference (the frame most like the portrait) has the driver's lips parted and
the portrait's are closed, every closing of the driver's mouth pushes the portrait's lower lip up
through the upper one, and the opening shrinks by the reference's gap. So the inner-lip gap is set
to the portrait's own gap plus how far the driver's lips part beyond the driver's closed mouth (a
low percentile of its gap over the clip, or a value the caller keeps), the lower lip and chin
moved to it; the lips never cross.
"""
from __future__ import annotations

import numpy as np

from .parts import PARTS

ADAPT_MODES = ("relative", "none")
EYE_MODES = ("retarget", "relative")
MOUTH_MODES = ("retarget", "relative")
EYES = ((37, 38, 41, 40), (43, 44, 47, 46))  # upper-lid points and the lower-lid points below them
BROWS = (slice(17, 22), slice(22, 27))
SHUT = 0.035  # a lid gap below this (× eye-corner distance) counts as shut: nothing to retarget from
SHUT_READING = 0.35  # a 68-point detector's lid gap on a shut eye, × the same eye open: dlib reads the
# wolfgang clip's visibly shut eyes at 0.25-0.37 of its median gap; lids never quite meet in its points
KNEE = 0.6  # driver openings above this (× open) are taken as they are; below, stretched down to shut
LOWER_LID_SHARE = 0.2  # of a closing, the lower lid's part: the upper lid comes down, the lower barely rises
CLOSED_PERCENTILE = 5.0  # the driver's closed mouth: this percentile of its lip gap over the clip
UPPER_INNER, LOWER_INNER = [61, 62, 63], [67, 66, 65]  # inner-lip points facing each other
LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]  # moved by the whole change of the gap
CHIN = {6: 0.4, 7: 0.7, 8: 0.8, 9: 0.7, 10: 0.4}  # jaw points and their share of it


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


def lid_gaps(points: np.ndarray) -> np.ndarray:
    """(T, 2) mean gap between each eye's upper and lower lid over the eye-corner distance
    (36-45); points (T, 68, 2) or (68, 2)."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    scale = np.maximum(np.linalg.norm(p[:, 45] - p[:, 36], axis=-1), 1e-6)
    gaps = [np.linalg.norm(p[:, [a, b]] - p[:, [c, d]], axis=-1).mean(1) for a, b, c, d in EYES]
    return np.stack(gaps, 1) / scale[:, None]


def openness(reading: np.ndarray) -> np.ndarray:
    """How open an eye is (0 shut, 1 open, at most 1.3), from a detector's lid gap over the same
    eye's open gap: readings above :data:`KNEE` as they are, from :data:`SHUT_READING` up to it
    stretched to 0 … KNEE, so an eye the detector reads as shut is drawn shut."""
    reading = np.asarray(reading, np.float64)
    low = KNEE * np.clip((reading - SHUT_READING) / (KNEE - SHUT_READING), 0, 1)
    return np.clip(np.where(reading >= KNEE, reading, low), 0, 1.3)


def retarget_eyes(adapted: np.ndarray, driving: np.ndarray, portrait: np.ndarray,
                  driver_open: np.ndarray | None = None) -> np.ndarray:
    """``adapted`` (T, 68, 2) with each eye's upper lid moved down or up (and the lower lid up
    by :data:`LOWER_LID_SHARE` of a closing), across the line between the eye's corners, as
    eyes close: so its gap is the portrait's gap × :func:`openness` (the driver's gap / ``driver_open``).
    driver_open (2,): the driver's open-eye gap per eye (default: its 90th percentile over
    ``driving``). Eyes shut in the portrait are left as they are."""
    out = np.array(adapted, np.float32)
    driving_gaps, portrait_gaps = lid_gaps(driving), lid_gaps(portrait)[0]
    if driver_open is None:
        driver_open = np.percentile(driving_gaps, 90, axis=0)
    share = openness(driving_gaps / np.maximum(np.asarray(driver_open, np.float64), 1e-6))  # (T, 2)
    scale = np.linalg.norm(out[:, 45] - out[:, 36], axis=-1)  # (T,)
    for side, (a, b, c, d) in enumerate(EYES):
        if portrait_gaps[side] < SHUT:
            continue
        corners, brow = out[:, [a - 1, b + 1]], out[:, BROWS[side]].mean(1)  # (T, 2, 2), (T, 2)
        axis = corners[:, 1] - corners[:, 0]
        up = np.stack([-axis[:, 1], axis[:, 0]], 1) / np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-6)
        up *= np.sign(((brow - corners.mean(1)) * up).sum(1, keepdims=True) + 1e-9)  # towards the brow
        lower = out[:, [c, d]]
        gap = ((out[:, [a, b]] - lower) * up[:, None]).sum(-1).mean(1)  # (T,) as the relative motion left it
        wanted = portrait_gaps[side] * share[:, side] * scale
        rise = (LOWER_LID_SHARE * np.clip(gap - wanted, 0, None))[:, None, None]  # a lower lid rises a little
        lower = lower + rise * up[:, None]
        out[:, [c, d]], out[:, [a, b]] = lower, lower + wanted[:, None, None] * up[:, None]
    return out


def _down(points: np.ndarray) -> np.ndarray:
    """(T, 2) unit vectors across the line between the mouth corners (48, 54), away from the eyes."""
    axis = points[:, 54] - points[:, 48]
    down = np.stack([-axis[:, 1], axis[:, 0]], 1) / np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-6)
    away = points[:, 48:68].mean(1) - points[:, 36:48].mean(1)
    return down * np.sign((away * down).sum(1, keepdims=True) + 1e-9)


def lip_gaps(points: np.ndarray) -> np.ndarray:
    """(T,) signed gap between the inner lips (61-63 over 67-65) across the mouth-corner line,
    over the eye-corner distance (36-45): about 0 closed, negative where the lips cross; points
    (T, 68, 2) or (68, 2)."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    scale = np.maximum(np.linalg.norm(p[:, 45] - p[:, 36], axis=-1), 1e-6)
    gap = ((p[:, LOWER_INNER] - p[:, UPPER_INNER]) * _down(p)[:, None]).sum(-1).mean(1)
    return gap / scale


def retarget_mouth(adapted: np.ndarray, driving: np.ndarray, portrait: np.ndarray, reference: int,
                   driver_closed: float | None = None) -> np.ndarray:
    """``adapted`` (T, 68, 2) with the lower lip (and a share of the chin) moved across the
    mouth-corner line so the inner-lip gap is the portrait's gap plus the driver's gap beyond
    the gap that matches the portrait: the driver's closed gap (``driver_closed``, default its
    :data:`CLOSED_PERCENTILE` over ``driving``) plus the portrait's own, or the reference
    frame's gap where that is smaller (an open portrait keeps the relative motion). Never
    below 0: the lips don't cross."""
    out = np.array(adapted, np.float32)
    driving_gaps, portrait_gap = lip_gaps(driving), float(lip_gaps(portrait)[0])
    if driver_closed is None:
        driver_closed = float(np.percentile(driving_gaps, CLOSED_PERCENTILE))
    matched = min(float(driving_gaps[reference]), driver_closed + max(portrait_gap, 0.0))
    wanted = np.maximum(portrait_gap + driving_gaps - matched, 0.0)  # (T,)
    scale = np.linalg.norm(out[:, 45] - out[:, 36], axis=-1)
    move = ((wanted - lip_gaps(out)) * scale)[:, None] * _down(out)  # (T, 2) pixels
    out[:, LOWER_LIP] += move[:, None].astype(np.float32)
    for point, share in CHIN.items():
        out[:, point] += (share * move).astype(np.float32)
    return out


def adapt_landmarks(driving: np.ndarray, portrait: np.ndarray, mode: str = "relative",
                    reference: int | str = 0, eyes: str = "retarget",
                    driver_open: np.ndarray | None = None, mouth: str = "retarget",
                    driver_closed: float | None = None) -> np.ndarray:
    """Landmarks for the portrait that follow the driving video.

    driving: (T, 68, 2) in driving-video pixels; portrait: (68, 2) in portrait pixels.
    reference: index of the driving frame that matches the portrait's expression, or
    "best" to pick the closest one. eyes (``relative`` mode): "retarget" (the lid gap follows
    how open the driver's eye is, :func:`retarget_eyes`; ``driver_open`` as there) or
    "relative" (the driver's lid motion added). mouth (``relative`` mode): "retarget" (the lip
    gap follows how far the driver's lips part beyond closed, :func:`retarget_mouth`;
    ``driver_closed`` as there) or "relative". Returns (T, 68, 2) in portrait pixels.
    """
    if mode not in ADAPT_MODES:
        raise ValueError(f"unknown adaptation {mode!r}; choose from {ADAPT_MODES}")
    if eyes not in EYE_MODES:
        raise ValueError(f"unknown eye adaptation {eyes!r}; choose from {EYE_MODES}")
    if mouth not in MOUTH_MODES:
        raise ValueError(f"unknown mouth adaptation {mouth!r}; choose from {MOUTH_MODES}")
    driving = np.asarray(driving, np.float32)
    portrait = np.asarray(portrait, np.float32)
    ref = best_reference(driving, portrait) if reference == "best" else int(reference)
    to_driving_norm = similarity(driving[ref])
    from_portrait_norm = invert(similarity(portrait))
    moved = np.stack([apply(to_driving_norm, p) for p in driving])  # (T, 68, 2), normalised
    if mode == "relative":
        moved = apply(similarity(portrait), portrait) + (moved - moved[ref])
    adapted = np.stack([apply(from_portrait_norm, p) for p in moved])
    if mode == "relative" and eyes == "retarget":
        adapted = retarget_eyes(adapted, driving, portrait, driver_open)
    if mode == "relative" and mouth == "retarget":
        adapted = retarget_mouth(adapted, driving, portrait, ref, driver_closed)
    return adapted
