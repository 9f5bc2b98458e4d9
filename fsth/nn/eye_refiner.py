"""A small learned refiner of closing eyes: the learned path over the guard-rails' lid rule.

The guard-rails (fsth.eyelids) lay a lid over the shot's eye where the target's eye is more
closed; how a real lid looks as it comes down — its shading, the weight of the lash line, the
crease — is learned here, on SynthHeads blinks (fsth.train.eyes). The network sees a patch
around each eye, aligned by the eye's corners, so the same weights serve 64 px and 512 px:

    inputs (B, 9, 32, 64): the rendered eye (3), the shot's eye (3), the target's eye opening,
    the target's upper lid and the shot's eye opening (1 each, drawn from the landmarks)
    ->  a change of colour (3), added to the rendered eye, faded out inside an ellipse over the eye and its lid.

As in LivePortrait's eye retargeting, the landmarks decide the geometry and only the
appearance is learned. Untrained, the refiner changes nothing (its last layer starts at zero),
so a model without trained eyes renders exactly as the guard-rails do.
"""
from __future__ import annotations

import numpy as np
import torch

from ..landmarks.regions import EYES, eye_closure
from . import patches as P

# a patch's pixels: 32 x 64, the eye's corners 32 px apart a little below the middle (more of the
# lid and crease above); it may change an ellipse over the eye and its lid
EYE = P.PatchShape(height=32, width=64, span=32, anchor_row=18, fade_axes=(0.8, 0.36, -0.04), fade_width=0.35)


def eye_frames(points: np.ndarray) -> np.ndarray:
    """(T, 2, 3, 2): for each frame (points (T, 68, 2) in pixels) and eye, its patch's frame:
    origin (the corners' midpoint), x axis (outer to inner corner, as long as the eye is wide)
    and y axis (down the face). The second eye's frame is mirrored, so both look alike."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    (left, right) = EYES
    return np.stack([P.frames_between(p[:, left[0]], p[:, left[3]]),
                     P.frames_between(p[:, right[3]], p[:, right[0]], flip=True)], 1)


def eye_maps(points: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(T, 2, 2, H, W) float32 in [0, 1]: each eye's opening (filled) and its upper lid (a line,
    corner to corner), drawn in its patch (``frames`` from :func:`eye_frames`)."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    maps = np.zeros((len(p), 2, 2, EYE.height, EYE.width), np.float32)
    for t in range(len(p)):
        for side, eye in enumerate(EYES):
            outline = P.to_patch(p[t, eye], frames[t, side], EYE)
            maps[t, side, 0] = P.draw(outline, True, EYE)
            maps[t, side, 1] = P.draw(outline[:4], False, EYE)
    return maps


def sample_patches(images: torch.Tensor, frames: np.ndarray) -> torch.Tensor:
    """(B·2, 3, H, W): both eyes' patches of images (B, 3, S, S) along frames (B, 2, 3, 2)."""
    return P.sample_patches(images, frames, EYE)


CLOSING = (0.1, 0.3)  # closure (1 - target gap / shot gap) where the refiner starts, and is fully on


class EyeRefiner(P.PatchRefiner):
    """A three-level U-Net on eye patches: (B·2, 9, 32, 64) -> the change to the rendered eye
    (B·2, 3, 32, 64) in [-2, 2] (image units, [-1, 1]), faded out inside an ellipse. Its inputs:
    the rendered eye (3), the shot's (3), the target's opening and upper lid, the shot's opening."""

    SHAPE, MAPS = EYE, 2

    def frames(self, points: np.ndarray) -> np.ndarray:
        return eye_frames(points)

    def maps(self, points: np.ndarray, frames: np.ndarray) -> np.ndarray:
        return eye_maps(points, frames).reshape(-1, 2, EYE.height, EYE.width)

    def needed(self, shot_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
        """(B, 2): each eye's change kept as it closes — none while the target's eye is within
        :data:`CLOSING` [0] of the shot's opening, all of it from [1] closed (a smooth ramp): on
        an open eye the warp already shows the shot's own, and a refiner trained on SynthHeads
        eyes would only repaint it in SynthHeads' light."""
        ramp = np.clip((eye_closure(shot_points, target_points) - CLOSING[0]) / (CLOSING[1] - CLOSING[0]), 0, 1)
        return (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)
