"""Temporal smoothing of landmark sequences: detector jitter out, real motion kept.

A detector finds each frame's 68 points on its own, so a still face's points tremble by a
pixel or so from frame to frame, and a talking head driven by them trembles too. Two filters
take the tremble out:

- ``one-euro``: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), an exponential
  low-pass whose cutoff rises with speed: slow points (jitter around a still face) are
  smoothed hard, fast ones (an opening mouth, a turning head) follow with little lag. It
  only looks back, so it runs live: :class:`OneEuroFilter` takes one frame at a time, and
  :func:`one_euro` is exactly that stream run over a whole sequence.
- ``savgol``: a Savitzky-Golay filter (a least-squares polynomial fitted in a sliding
  window, ``scipy.signal.savgol_filter``), for whole sequences only. It looks ahead as
  well as back, so it has no lag (a step starts a frame or two early and overshoots by
  ~10 %), and a polynomial of order 2 keeps the peaks of a mouth's opening better than an
  average of the same width would. Where the whole clip is at hand it is the closer of the
  two: one-euro, only looking back, trails a mouth opening at 3 Hz by a pixel or two.

:func:`smooth_landmarks` is the one entry point. Landmarks are (T, 68, 2) float32 in pixels
(x, y); frames without a face must be filled in before (``fsth.animation.driving_landmarks``
reuses the last face), and NaN is refused.
"""
from __future__ import annotations

import math

import numpy as np

from .parts import LEFT_EYE_OUTER, NUM_POINTS, RIGHT_EYE_OUTER

SMOOTHING_METHODS = ("one-euro", "savgol", "none")

# The defaults, chosen on the sample talking clip (``samples.fetch("wolfgang")``, 24 fps, dlib
# landmarks): One-Euro keeps ~95 % of the mouth's opening peaks with no lag in the opening
# series while the points' frame-to-frame tremble (mean |second difference|) drops to ~0.37x;
# a slower filter (beta 1) keeps only ~0.88 of the peaks. Savitzky-Golay over 7 frames keeps
# ~0.96 of them at ~0.29x the tremble: offline, it is the better of the two.
MIN_CUTOFF = 1.0  # Hz: the cutoff of a still face (lower: smoother and slower)
BETA = 5.0  # Hz added per face width per second of speed (higher: less lag on fast motion)
D_CUTOFF = 1.0  # Hz: the low-pass of the speed estimate itself (the paper's value)
SAVGOL_SECONDS = 0.25  # the default Savitzky-Golay window, in seconds of the clip (7 frames at 24 fps)
SAVGOL_ORDER = 2


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Weight of the new sample in an exponential low-pass of ``cutoff`` Hz sampled every
    ``dt`` seconds (the paper's alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi cutoff))."""
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def _check_points(points: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """``points`` as float64 after checking its shape (None: any length) and that it holds
    no NaN (naming the frames) nor infinity."""
    array = np.asarray(points, np.float64)
    if array.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, array.shape)):
        expected = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{what} must have shape {expected}, got {array.shape}")
    if np.isnan(array).any():
        frames = np.unique(np.nonzero(np.isnan(array))[0]) if array.ndim == 3 else []
        where = f" (frames {', '.join(map(str, frames[:5]))}{', ...' if len(frames) > 5 else ''})" \
            if len(frames) else ""
        raise ValueError(f"{what} contain NaN{where}: fill the frames without a face before smoothing")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain infinite values")
    return array


class OneEuroFilter:
    """The One-Euro filter over a stream of 68-point faces, one frame at a time.

        smoother = OneEuroFilter()
        for frame, t in camera:                       # t: the frame's time in seconds
            points = smoother.update(detect(frame), t)

    Each point is filtered as a whole (both coordinates share one cutoff, set by the point's
    speed), and speed is measured in face widths per second (the outer-eye-corner distance,
    points 36 and 45, of the current frame), so the same ``beta`` suits a face of 60 pixels
    and one of 600.

    min_cutoff: Hz, the cutoff at rest; beta: Hz added per face width per second of speed;
    d_cutoff: Hz, the cutoff of the speed estimate.
    """

    def __init__(self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0 and beta >= 0, got "
                             f"min_cutoff={min_cutoff}, d_cutoff={d_cutoff}, beta={beta}")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next frame is passed through as it is."""
        self._points: np.ndarray | None = None  # (68, 2) float64, the last output
        self._speed: np.ndarray | None = None  # (68, 2) float64, the filtered velocity in pixels/s
        self._time: float | None = None

    def update(self, points: np.ndarray, t_seconds: float) -> np.ndarray:
        """Smooth one frame: points (68, 2) in pixels at time ``t_seconds`` (increasing from
        call to call) -> smoothed (68, 2) float32. The first frame comes back unchanged."""
        x = _check_points(points, (NUM_POINTS, 2), "landmarks")
        t = float(t_seconds)
        if self._points is None:
            self._points, self._speed, self._time = x, np.zeros_like(x), t
            return x.astype(np.float32)
        dt = t - self._time
        if not dt > 0:
            raise ValueError(f"One-Euro needs increasing times, got {t} after {self._time}")
        speed = self._speed + _alpha(self.d_cutoff, dt) * ((x - self._points) / dt - self._speed)
        face = max(float(np.linalg.norm(x[RIGHT_EYE_OUTER] - x[LEFT_EYE_OUTER])), 1e-6)
        cutoff = self.min_cutoff + self.beta * np.linalg.norm(speed, axis=-1, keepdims=True) / face  # (68, 1)
        self._points = self._points + _alpha(cutoff, dt) * (x - self._points)
        self._speed, self._time = speed, t
        return self._points.astype(np.float32)


def one_euro(points: np.ndarray, fps: float, min_cutoff: float = MIN_CUTOFF, beta: float = BETA,
             d_cutoff: float = D_CUTOFF) -> np.ndarray:
    """One-Euro filter of a whole sequence (T, 68, 2) at ``fps`` frames per second: exactly
    :class:`OneEuroFilter` fed frame i at time i / fps. Returns (T, 68, 2) float32."""
    sequence = _check_points(points, (None, NUM_POINTS, 2), "landmarks")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    stream = OneEuroFilter(min_cutoff, beta, d_cutoff)
    out = np.empty(sequence.shape, np.float32)
    for i, frame in enumerate(sequence):
        out[i] = stream.update(frame, i / fps)
    return out


def savgol(points: np.ndarray, fps: float | None = None, window: int | None = None,
           order: int = SAVGOL_ORDER) -> np.ndarray:
    """Savitzky-Golay filter of a whole sequence (T, N, 2) along time -> (T, N, 2) float32.

    window: odd number of frames; by default the odd number nearest ``SAVGOL_SECONDS`` of
    the clip at ``fps`` (7 frames at 24 or 25 fps, 9 at 30). A clip shorter than the window is filtered with
    the longest odd window it holds; one no longer than ``order`` comes back as it is.
    """
    from scipy.signal import savgol_filter

    sequence = _check_points(points, (None, None, 2), "landmarks")
    if window is None:
        if not fps or fps <= 0:
            raise ValueError("savgol needs fps (or an explicit window in frames)")
        window = max(order + 1 + order % 2, 2 * round(SAVGOL_SECONDS * fps / 2) + 1)  # odd, > order
    if window < 1 or window % 2 == 0 or order < 0 or order >= window:
        raise ValueError(f"savgol needs an odd window > order >= 0, got window={window}, order={order}")
    longest = len(sequence) if len(sequence) % 2 else len(sequence) - 1
    window = min(window, longest)
    if window <= order:
        return sequence.astype(np.float32)
    return savgol_filter(sequence, window, order, axis=0, mode="interp").astype(np.float32)


def smooth_landmarks(points: np.ndarray, method: str = "one-euro", fps: float | None = None,
                     **params) -> np.ndarray:
    """Smooth a landmark sequence (T, 68, 2) over time -> (T, 68, 2) float32.

    method: "one-euro" (causal, works live; params ``min_cutoff``, ``beta``, ``d_cutoff``),
    "savgol" (offline, no lag; params ``window``, ``order``) or "none" (the points as they
    are). fps: frames per second of the clip (needed by one-euro, and by savgol's default
    window).
    """
    if method == "none":
        _check_points(points, (None, None, 2), "landmarks")
        return np.asarray(points, np.float32)
    if method == "one-euro":
        if fps is None:
            raise ValueError("one-euro smoothing needs the clip's fps")
        return one_euro(points, fps, **params)
    if method == "savgol":
        return savgol(points, fps, **params)
    raise ValueError(f"unknown smoothing {method!r}; choose from {SMOOTHING_METHODS}")
