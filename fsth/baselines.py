"""Renderers without learning, by name: what every learned model must beat.

    head = create_baseline("warp", shots, landmarks)   # or "guided-warp", "mean"
    frames = head.render(points)

- ``warp``: the first shot's pixels moved piecewise-affinely to the landmarks (fsth.warp);
- ``guided-warp``: the warp on guard-rails — eyelids that close, a background that stays, a
  painted mouth cavity (fsth.guardrails);
- ``mean``: the mean of the K shots in every frame (a face that never moves).
"""
from __future__ import annotations

import numpy as np

from .guardrails import GuidedWarp
from .warp import WarpedPortrait


class MeanFrame:
    """The mean-frame baseline (a :class:`fsth.render.Renderer`): every frame is the mean of the shots."""

    def __init__(self, shots: np.ndarray, landmarks: np.ndarray):
        self.shots, self.landmarks = np.asarray(shots), np.asarray(landmarks, np.float32)
        self.mean = self.shots.mean(0).round().astype(np.uint8)
        self.steps = 0

    @property
    def size(self) -> int:
        return self.shots.shape[1]

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        return np.repeat(self.mean[None], len(landmarks), axis=0)


BASELINES = {"warp": WarpedPortrait, "guided-warp": GuidedWarp, "mean": MeanFrame}


def create_baseline(name: str, shots: np.ndarray, landmarks: np.ndarray, **kwargs):
    """The baseline renderer ``name`` built from shots uint8 (K, S, S, 3) and landmarks (K, 68, 2);
    ``kwargs`` go to its class (the warps take ``map_size``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[name](shots, landmarks, **kwargs)
