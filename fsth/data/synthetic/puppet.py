"""SynthPuppet: a SynthHeads identity as a renderer (``fsth.render.Renderer``) driven by landmarks.

For each target (68, 2) the puppet finds the pose and expression (:data:`FITTED`: head turn, nod,
tilt and position, jaw, smile, blink and brows; gaze and light fixed) whose projected landmarks
come closest to it, by least squares on the landmark residuals in pixels, bounded to the ranges
the motion model draws from (``motion.RANGES``) and warm-started from the previous frame's
pose, then paints that pose. It is a renderer without learning whose every frame is an exact
SynthHeads frame: the mouth opens with teeth and tongue, the eyes close, the head turns, which
a landmark warp can't do; and on landmarks SynthHeads rendered itself it recovers the poses.

    puppet = SynthPuppet(random_identity(np.random.default_rng(7)), size=64)
    frames = puppet.render(landmarks)        # (T, 68, 2) in the puppet's pixels -> uint8 (T, 64, 64, 3)
    poses = puppet.fit(landmarks)            # the fitted Pose of each frame
"""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np

from ...render import check_landmarks
from .head import Pose, pose_transform
from .identity import Identity
from .motion import RANGES
from .render import Renderer

FITTED = ("yaw", "pitch", "roll", "x", "y", "z", "jaw", "smile", "blink", "brows")  # what the fit moves
_LOW = np.array([RANGES[name][0] for name in FITTED])
_HIGH = np.array([RANGES[name][1] for name in FITTED])
_SCALE = (_HIGH - _LOW) / 2  # the fit works in units of half a range, so every parameter weighs alike
RESTART_RMS = 0.02  # of the frame's side: a warm-started fit worse than this is tried again from rest


class SynthPuppet:
    """A SynthHeads identity that follows landmarks (the ``fsth.render.Renderer`` protocol).

    ``shots`` (1, S, S, 3) and ``landmarks`` (1, 68, 2) are its frame at rest (``Pose()``);
    ``seed`` varies its scene (camera, light, background) as a clip's seed does, None keeps the
    identity's own. ``pose`` is the last fitted pose: the next fit starts from it.
    """

    def __init__(self, who: Identity, size: int = 64, seed: int | None = None):
        self.who = who
        self.painter = Renderer(who, size, None if seed is None else np.random.default_rng(seed))
        frame, points = self.painter.render(Pose())
        self.shots, self.landmarks = frame[None], points[None]
        self.pose = Pose()

    @property
    def size(self) -> int:
        return self.painter.size

    def project(self, pose: Pose) -> np.ndarray:
        """The landmarks (68, 2) of a pose, in pixels (as ``painter.render(pose)`` gives them)."""
        rot, shift = pose_transform(pose, self.painter.scene.distance)
        head = self.painter.head.landmarks(pose, -rot.T @ shift) @ rot.T + shift
        return self.painter.scene.camera.project(head)

    def fit_one(self, points: np.ndarray, start: Pose | None = None) -> Pose:
        """The pose whose landmarks best match ``points`` (68, 2), starting from ``start`` (default:
        the last fitted pose); if that ends far off (a cut, another face), also from rest."""
        target = check_landmarks(points)
        if len(target) != 1:
            raise ValueError(f"fit_one takes one frame's points (68, 2), got {len(target)} frames")
        target = target[0].astype(np.float64)
        start = self.pose if start is None else start
        best = self._fit(target, start)
        if start != Pose() and best[1] > RESTART_RMS * self.size:
            best = min(best, self._fit(target, Pose()), key=lambda fit: fit[1])
        self.pose = best[0]
        return self.pose

    def fit(self, landmarks: np.ndarray) -> list[Pose]:
        """The fitted pose of each frame of ``landmarks`` (T, 68, 2), each starting from the last."""
        return [self.fit_one(points) for points in check_landmarks(landmarks)]

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        """Frames uint8 (T, S, S, 3) of the puppet in the poses fitted to ``landmarks`` (T, 68, 2)."""
        return np.stack([self.painter.render(pose)[0] for pose in self.fit(landmarks)])

    def render_one(self, points: np.ndarray) -> np.ndarray:
        """One frame (S, S, 3) for points (68, 2), continuing from the last fitted pose."""
        return self.painter.render(self.fit_one(points))[0]

    def _fit(self, target: np.ndarray, start: Pose) -> tuple[Pose, float]:
        """(pose, RMS landmark distance in pixels) of a bounded least-squares fit from ``start``."""
        from scipy.optimize import least_squares  # only puppets need it: SynthHeads' workers start faster

        values = asdict(start)

        def pose_of(q):
            return replace(start, **dict(zip(FITTED, (q * _SCALE).tolist())))

        def residuals(q):
            return (self.project(pose_of(q)) - target).ravel()

        q0 = np.clip([values[name] for name in FITTED], _LOW, _HIGH) / _SCALE
        result = least_squares(residuals, q0, bounds=(_LOW / _SCALE, _HIGH / _SCALE), diff_step=1e-4,
                               xtol=1e-6, ftol=1e-6, max_nfev=60)
        return pose_of(result.x), float(np.sqrt(np.mean(result.fun.reshape(-1, 2) ** 2) * 2))
