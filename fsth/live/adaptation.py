"""Landmark adaptation for a stream: the driver's motion moved onto the portrait, frame by frame.

``fsth animate`` adapts a whole clip at once (``fsth.landmarks.adapt.adapt_landmarks``): it picks
its reference frame and the driver's open-eye lid gap (a percentile over the clip) knowing every
frame. Live, only the past is known, so:

- the **reference** (the driver's face that the portrait's own expression stands for) is the
  first frame with a face, or a frame the caller picks (:meth:`LiveAdapter.set_reference`, e.g.
  a "neutral face now" button);
- landmarks are smoothed by the streaming One-Euro filter (``fsth.landmarks.smooth``; its
  parameters exposed) before anything else, so detector tremble never reaches the portrait;
- the driver's **open-eye lid gap** is a running estimate: a high percentile (``open_percentile``)
  of each eye's gap over the last ``open_seconds``. A blink (a fifth of a second) hardly moves it,
  so the portrait's lids close with the driver's; eyes that stay shut longer than about
  (1 − percentile) of the window pull it down, and the portrait's eyes open again — a sleeping
  driver can't keep the portrait's eyes shut forever, which is the price of not knowing the future;
- the driver's **closed-mouth lip gap** likewise: a low percentile (``closed_percentile``) of its
  inner-lip gap over the same window, so the portrait's lips part as far as the driver's part
  beyond closed, whatever the reference frame's mouth was doing.

Each frame is adapted exactly as ``adapt_landmarks`` adapts a clip of two frames, the reference
and this one: ``adapt_landmarks([reference, current], portrait, "relative", reference=0,
driver_open=running_open, driver_closed=running_closed)[1]``.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from ..landmarks.adapt import CLOSED_PERCENTILE, adapt_landmarks, lid_gaps, lip_gaps
from ..landmarks.smooth import BETA, D_CUTOFF, MIN_CUTOFF, OneEuroFilter

OPEN_SECONDS = 4.0  # the window of the running open-eye estimate
OPEN_PERCENTILE = 90.0  # as adapt_landmarks' whole-clip estimate


class LiveAdapter:
    """Driving landmarks in, the portrait's landmarks out, one frame at a time.

        adapter = LiveAdapter(portrait_points)        # (68, 2) in the renderer's pixels
        target = adapter(points, t_seconds)           # (68, 2) float32 for renderer.render

    min_cutoff, beta, d_cutoff: the One-Euro filter's (``fsth.landmarks.smooth.OneEuroFilter``);
    open_seconds, open_percentile: the running open-eye estimate, over a window of ``open_seconds``;
    closed_percentile: the running closed-mouth estimate over the same window (see the module's
    docstring)."""

    def __init__(self, portrait_points: np.ndarray, min_cutoff: float = MIN_CUTOFF, beta: float = BETA,
                 d_cutoff: float = D_CUTOFF, open_seconds: float = OPEN_SECONDS,
                 open_percentile: float = OPEN_PERCENTILE, closed_percentile: float = CLOSED_PERCENTILE):
        if not open_seconds > 0 or not 0 <= open_percentile <= 100 or not 0 <= closed_percentile <= 100:
            raise ValueError(f"open_seconds must be > 0 and open_percentile, closed_percentile in [0, 100], got "
                             f"{open_seconds}, {open_percentile}, {closed_percentile}")
        self.portrait = np.asarray(portrait_points, np.float32).reshape(68, 2)
        self.smoother = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self.open_seconds, self.open_percentile = float(open_seconds), float(open_percentile)
        self.closed_percentile = float(closed_percentile)
        self.reference: np.ndarray | None = None  # the driver's reference face, smoothed
        self._gaps: deque[tuple[float, np.ndarray, float]] = deque()  # (time, lid gaps (2,), lip gap) of the window
        self.driver_open: np.ndarray | None = None  # the running open-eye gap per eye (2,)
        self.driver_closed: float | None = None  # the running closed-mouth lip gap

    def set_reference(self, points: np.ndarray | None = None) -> None:
        """Take ``points`` (the driver's (68, 2)) as the reference, or, with None, the next frame."""
        self.reference = None if points is None else np.asarray(points, np.float32).reshape(68, 2)

    def __call__(self, points: np.ndarray, t_seconds: float) -> np.ndarray:
        """The portrait's landmarks (68, 2) float32 for the driver's ``points`` (68, 2) at time
        ``t_seconds`` (increasing from call to call)."""
        smoothed = self.smoother.update(points, t_seconds)
        if self.reference is None:
            self.reference = smoothed.copy()
        self._gaps.append((float(t_seconds), lid_gaps(smoothed)[0], float(lip_gaps(smoothed)[0])))
        while self._gaps[0][0] < t_seconds - self.open_seconds:
            self._gaps.popleft()
        self.driver_open = np.percentile(np.stack([g for _, g, _ in self._gaps]), self.open_percentile, axis=0)
        self.driver_closed = float(np.percentile([m for _, _, m in self._gaps], self.closed_percentile))
        return adapt_landmarks(np.stack([self.reference, smoothed]), self.portrait, "relative", reference=0,
                               driver_open=self.driver_open, driver_closed=self.driver_closed)[1]
