"""The one interface of everything that renders a face from landmarks.

The person model (``fsth.person.Person``), the landmark warp (``fsth.warp.WarpedPortrait``), the
mean frame (``fsth.baselines.MeanFrame``) and a SynthHeads identity
(``fsth.data.synthetic.SynthPuppet``) all follow it, so animation, evaluation, the live loop
and the detector study take any of them without asking which one they hold:

    frames = renderer.render(points)        # (T, 68, 2) in the renderer's pixels -> uint8 (T, S, S, 3)
    frame = render_one(renderer, points[0])  # one frame of a stream
    more = render_continued(renderer, points)  # the next frames of the same video (chunk by chunk)

``shots`` and ``landmarks`` are the pictures the renderer was built from and their points:
driving landmarks are adapted to ``landmarks[0]`` (fsth.landmarks.adapt) before rendering.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Renderer(Protocol):
    """Anything that renders a face from 68 landmarks (see the module's docstring)."""

    shots: np.ndarray  # uint8 (K, S, S, 3): the person's pictures it was built from
    landmarks: np.ndarray  # float32 (K, 68, 2): their landmarks, in pixels of the S x S crop

    @property
    def size(self) -> int:
        """S, the side of the square frames it renders."""
        ...

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        """Frames for landmarks (T, 68, 2) in pixels: uint8 (T, S, S, 3)."""
        ...


def render_one(renderer: Renderer, points: np.ndarray) -> np.ndarray:
    """The next frame (S, S, 3) of a stream for points (68, 2): the renderer's own ``render_one``
    if it has one (a faster path, or one that carries what it holds still from the last frame, as
    the guard-rails' cavity), else ``render`` on a batch of one."""
    fast = getattr(renderer, "render_one", None)
    if fast is not None:
        return fast(points)
    return renderer.render(np.asarray(points, np.float32)[None])[0]


def render_continued(renderer: Renderer, points: np.ndarray) -> np.ndarray:
    """Frames for points (T, 68, 2) that follow the last call's in the same video (a video
    rendered in chunks): the renderer's own ``render_continued`` if it carries something from
    frame to frame (a Person: its generator's smoothed flow), else ``render``."""
    carried = getattr(renderer, "render_continued", None)
    if carried is not None:
        return carried(points)
    return renderer.render(points)


def check_landmarks(landmarks, what: str = "landmarks") -> np.ndarray:
    """Landmarks as float32 (T, 68, 2), finite, or a ValueError naming ``what``."""
    points = np.asarray(landmarks, np.float32)
    if points.ndim == 2:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"{what}: expected (T, 68, 2) or (68, 2) points, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{what}: points must be finite (NaN or infinity found)")
    return points
