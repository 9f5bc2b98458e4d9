"""A small learned refiner of the opening mouth at the output's own resolution.

The guided model paints an opening mouth at its own 64 px — a cavity with teeth from the
guard-rails (fsth.guardrails), refined by its synthesis path — and at 256 px that paint is
enlarged: soft teeth, lips that blur into the cavity. This refiner sees a patch around the mouth,
aligned by its corners (fsth.nn.patches), at whatever size the output is, and learns on
SynthHeads what turns the enlarged render into the target (fsth.train.mouth):

    inputs (B, 9, 48, 64): the rendered mouth (3), the shot's mouth (3), the target's mouth
    opening and lips and the shot's mouth opening (1 each, drawn from the landmarks)
    ->  a change of colour (3), added to the rendered mouth, faded out inside an ellipse over the lips.

As with the eyes (fsth.nn.eye_refiner), the landmarks decide the geometry and only the appearance
is learned; untrained it changes nothing.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..landmarks.regions import INNER_LIPS
from . import patches as P

# the mouth's corners (outer lips 48 and 54) 32 px apart on row 18 of 48: more room below, where the jaw opens
MOUTH = P.PatchShape(height=48, width=64, span=32, anchor_row=18, fade_axes=(0.78, 0.62, 0.2), fade_width=0.3)
OUTER_LIPS = np.arange(48, 60)
LIPS_MARGIN = 4  # patch pixels (1/8 of the corners' distance) around the mouth's opening where a change is kept


def mouth_frames(points: np.ndarray) -> np.ndarray:
    """(T, 1, 3, 2): each frame's mouth patch (points (T, 68, 2) in pixels): origin between the
    corners, x axis from corner 48 to corner 54, y axis down the face."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    return P.frames_between(p[:, 48], p[:, 54])[:, None]


def mouth_maps(points: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(T, 2, H, W) float32 in [0, 1]: the mouth's opening (inside the inner lips) and the lips
    with it (inside the outer lips), drawn in its patch (``frames`` from :func:`mouth_frames`)."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    maps = np.zeros((len(p), 2, MOUTH.height, MOUTH.width), np.float32)
    for t in range(len(p)):
        maps[t, 0] = P.draw(P.to_patch(p[t, INNER_LIPS], frames[t, 0], MOUTH), True, MOUTH)
        maps[t, 1] = P.draw(P.to_patch(p[t, OUTER_LIPS], frames[t, 0], MOUTH), True, MOUTH)
    return maps


class MouthRefiner(P.PatchRefiner):
    """A three-level U-Net on mouth patches: (B, 9, 48, 64) -> the change to the rendered mouth
    (B, 3, 48, 64) in [-2, 2] (image units, [-1, 1]), faded out inside an ellipse. Its inputs:
    the rendered mouth (3), the shot's (3), the target's opening and lips, the shot's opening."""

    SHAPE, MAPS = MOUTH, 2
    BALANCED = True
    # in a video, 0.7 of the previous frame's change kept (in the patch, which follows the mouth): the
    # network's paint trembled from frame to frame. On the dev portraits driven by single_face (stop 38),
    # flicker Mona Lisa 1.026 -> 1.020, Grace Hopper 1.468 -> 1.461, astronaut 0.905 -> 0.904, mouth span
    # 0.80 -> 0.84, 0.72 -> 0.72, 0.59 -> 0.60. The eyes' stays 0: a blink lasts a few frames
    CHANGE_SMOOTHING = 0.7

    def frames(self, points: np.ndarray) -> np.ndarray:
        return mouth_frames(points)

    def maps(self, points: np.ndarray, frames: np.ndarray) -> np.ndarray:
        return mouth_maps(points, frames)

    def needed(self, shot_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
        """(B, 1): the change kept as the lips part wider than the shot's, on the ramp the painted
        cavity uses (fsth.guardrails.mouth_opens): a mouth no more open than the shot's is the
        shot's own, which the warp already shows."""
        from ..guardrails import mouth_opens

        return mouth_opens(shot_points, target_points).astype(np.float32)[:, None]

    def where(self, inputs: torch.Tensor) -> torch.Tensor:
        """The target's mouth opening (its inner-lip map, input 6), grown by :data:`LIPS_MARGIN` px
        and softened: the change is kept between the lips and on their inner edges. Trained on
        SynthHeads, the refiner also reshades the lips' outsides, chin and cheeks as SynthHeads'
        jaws shade, which on real faces left coloured blotches: bound to the outer lips (stop 36),
        it still darkened the Mona Lisa's chin under the lower lip by a fifth (194 -> 157 grey
        levels); bound to the opening it leaves it within two (192), and on held-out SynthHeads
        mouths (256 px) the error inside the mouth is the same either way."""
        opening = (inputs[:, 6:7].float() + 1) / 2
        grown = F.max_pool2d(opening, 2 * LIPS_MARGIN + 1, 1, LIPS_MARGIN)
        return F.avg_pool2d(grown, 2 * LIPS_MARGIN + 1, 1, LIPS_MARGIN, count_include_pad=False)
