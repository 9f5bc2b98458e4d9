"""Talking-head motion: smooth head turns, speech-like jaw movement, smiles, blinks, raised brows.

Every signal is a per-frame array (T,) sampled at ``fps``. Slow signals are sums of a few
low-frequency sinusoids with random phases; the jaw follows syllables (3-6 per second) under a
slowly varying loudness; blinks are short closings at random moments; the light drifts slowly
(by a different amount in each clip, from none to some 20 degrees). Every signal stays within
:data:`RANGES`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np

from .head import Pose

FPS = 25.0
RANGES = {  # (low, high) of each signal; what a fitted pose is bounded to (fsth.data.synthetic.puppet)
    "yaw": (-45.0, 45.0), "pitch": (-30.0, 30.0), "roll": (-25.0, 25.0),  # degrees, > 4 std
    "x": (-3.0, 3.0), "y": (-3.0, 3.0), "z": (-6.0, 6.0),  # cm
    "jaw": (0.0, 1.0), "smile": (0.0, 1.0), "blink": (0.0, 1.0), "brows": (0.0, 1.0),
    "light_yaw": (-30.0, 30.0), "light_pitch": (-30.0, 30.0)}  # degrees


@dataclass
class Motion:
    """Per-frame pose and expression, each an array of shape (T,); fields as in :class:`Pose`."""
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    jaw: np.ndarray
    smile: np.ndarray
    blink: np.ndarray
    brows: np.ndarray
    gaze_x: np.ndarray
    gaze_y: np.ndarray
    light_yaw: np.ndarray
    light_pitch: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw)

    def pose(self, t: int) -> Pose:
        """The pose and expression of frame ``t``."""
        return Pose(**{f.name: float(getattr(self, f.name)[t]) for f in fields(self)})


def smooth(rng: np.random.Generator, times: np.ndarray, amplitude: float,
           low: float = 0.1, high: float = 0.8, waves: int = 3) -> np.ndarray:
    """A smooth random signal: ``waves`` sinusoids of frequencies in [low, high] Hz, std ~ amplitude."""
    freq = rng.uniform(low, high, waves)[:, None]
    phase = rng.uniform(0, 2 * np.pi, waves)[:, None]
    weight = rng.uniform(0.5, 1.0, waves)[:, None]
    signal = (weight * np.sin(2 * np.pi * freq * times + phase)).sum(0)
    return amplitude * signal * np.sqrt(2 / (weight ** 2).sum())


def _side_stream(rng: np.random.Generator) -> np.random.Generator:
    """A generator seeded from ``rng``'s state without drawing from it (the same in every numpy)."""
    digest = hashlib.sha256(repr(rng.bit_generator.state).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def random_motion(rng: np.random.Generator, frames: int, fps: float = FPS) -> Motion:
    """A clip's worth of motion: ``frames`` frames of a person talking to the camera."""
    t = np.arange(frames) / fps
    syllables = rng.uniform(3.0, 6.0)
    loudness = np.clip(0.55 + smooth(rng, t, 0.35, 0.2, 0.7), 0, 1)
    speech = np.clip(np.sin(2 * np.pi * syllables * t + rng.uniform(0, 2 * np.pi)), 0, None) ** 1.5
    jaw = np.clip(loudness * (0.1 + 0.8 * speech) + smooth(rng, t, 0.04, 2.0, 5.0), 0, 1)
    blink = np.zeros(frames)
    for moment in rng.uniform(-0.3, t[-1] + 0.3, rng.poisson(0.5 * (t[-1] + 0.6))):
        blink = np.maximum(blink, np.clip(1 - np.abs(t - moment) / 0.09, 0, 1))  # ~0.2 s blinks
    saccades = np.repeat(rng.normal(0, 2.5, (frames // 12 + 1, 2)), 12, axis=0)[:frames]
    motion = Motion(
        yaw=rng.normal(0, 9) + smooth(rng, t, 9), pitch=rng.normal(-2, 5) + smooth(rng, t, 4),
        roll=rng.normal(0, 4) + smooth(rng, t, 3),
        x=smooth(rng, t, 0.6), y=smooth(rng, t, 0.5), z=smooth(rng, t, 1.5),
        jaw=jaw, smile=np.clip(rng.uniform(-0.6, 0.4) + smooth(rng, t, 0.3), 0, 1), blink=blink,
        brows=np.clip(rng.uniform(-0.5, 0.2) + smooth(rng, t, 0.35, 0.3, 1.2), 0, 1),
        gaze_x=saccades[:, 0], gaze_y=saccades[:, 1], light_yaw=np.zeros(frames), light_pitch=np.zeros(frames),
    )
    light = _side_stream(rng)  # so that what rng draws next (a clip's scene) stays as it was
    drift = light.uniform(0, 10)  # degrees (std) the light drifts in this clip
    motion.light_yaw, motion.light_pitch = (smooth(light, t, drift, 0.05, 0.25) for _ in range(2))
    for name, (low, high) in RANGES.items():
        setattr(motion, name, np.clip(getattr(motion, name), low, high))
    return motion
