"""The live loop: a camera frame in, a marked talking-head frame out, every stage timed.

    loop = LiveLoop(renderer)                  # any fsth.render.Renderer (fsth.live.renderers)
    frame, timings = loop.step(jpeg_bytes)     # or a uint8 (H, W, 3) array; loop.jpeg: the encoded frame

One :meth:`LiveLoop.step` runs, in order (``timings`` holds each stage's milliseconds, and ``total``):

1. ``decode``: JPEG bytes (what a browser sends) decoded with OpenCV; an array is taken as it is
   (RGB, or BGR with ``color="bgr"``, OpenCV's order);
2. ``track``: the driver's 68 landmarks (:class:`fsth.live.tracker.LandmarkTracker`);
3. ``adapt``: smoothed and moved onto the portrait (:class:`fsth.live.adaptation.LiveAdapter`);
4. ``render``: the renderer's frame for those landmarks;
5. ``mark``: the visible "SYNTHETIC" label stamped on it (:class:`fsth.live.mark.LabelStamp`):
   every frame the loop gives out carries it, there is no switch to leave it off;
6. ``encode``: JPEG (quality ``quality``), kept in :attr:`LiveLoop.jpeg` for whatever sends it on.

A frame without a face keeps the last face's landmarks (the portrait holds still); before the
first face the portrait is shown as it is (its own landmarks, no rendering).
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from ..render import render_one
from .adaptation import LiveAdapter
from .mark import LabelStamp
from .renderers import LIVE_THREADS
from .tracker import LandmarkTracker

STAGES = ("decode", "track", "adapt", "render", "mark", "encode")
JPEG_QUALITY = 80


class LiveLoop:
    """Camera frames to marked, encoded talking-head frames (see the module's docstring).

    renderer: any ``fsth.render.Renderer``; tracker, adapter: default a new
    :class:`LandmarkTracker` and a :class:`LiveAdapter` for the renderer's first shot; quality: JPEG
    quality of the output; color: channel order of array inputs, "rgb" or "bgr"; threads: torch's
    threads for the process (default ``fsth.live.renderers.LIVE_THREADS``, one: why there; None:
    leave them as they are)."""

    def __init__(self, renderer, tracker: LandmarkTracker | None = None, adapter: LiveAdapter | None = None,
                 quality: int = JPEG_QUALITY, color: str = "rgb", threads: int | None = LIVE_THREADS):
        if color not in ("rgb", "bgr"):
            raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be from 1 to 100, got {quality}")
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.renderer = renderer
        self.tracker = tracker or LandmarkTracker()
        self.adapter = adapter or LiveAdapter(renderer.landmarks[0])
        self.stamp = LabelStamp(renderer.size)
        self.quality, self.color = int(quality), color
        self.target: np.ndarray | None = None  # the portrait's landmarks of the last face seen
        self.driver: np.ndarray | None = None  # the driver's landmarks in the last frame (None: no face)
        self.jpeg = b""  # the last output frame, encoded
        self._start = time.perf_counter()
        self._last_t: float | None = None

    def step(self, frame, t: float | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """One camera frame (JPEG bytes, or uint8 (H, W, 3)) at time ``t`` seconds (default: the
        clock since the loop began) → the marked output frame uint8 (S, S, 3) RGB and the
        milliseconds of each stage (:data:`STAGES`, and ``total``)."""
        clock = time.perf_counter
        marks = [clock()]
        image = self._decode(frame)
        marks.append(clock())
        self.driver = points = self.tracker(image)
        marks.append(clock())
        if points is not None:
            t = clock() - self._start if t is None else float(t)
            if self._last_t is not None and t <= self._last_t:  # One-Euro needs increasing times
                t = self._last_t + 1e-3
            self._last_t = t
            self.target = self.adapter(points, t)
        marks.append(clock())
        if self.target is None:
            out = self.renderer.shots[0]
        else:
            out = render_one(self.renderer, self.target)
        marks.append(clock())
        out = self.stamp(out)
        marks.append(clock())
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode the output frame as JPEG")
        self.jpeg = encoded.tobytes()
        marks.append(clock())
        timings = {stage: 1000 * (b - a) for stage, a, b in zip(STAGES, marks, marks[1:])}
        timings["total"] = 1000 * (marks[-1] - marks[0])
        return out, timings

    def _decode(self, frame) -> np.ndarray:
        """uint8 RGB (H, W, 3) from JPEG (or PNG) bytes or an array."""
        if isinstance(frame, (bytes, bytearray, memoryview)):
            image = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError("the camera frame could not be decoded (not a JPEG or PNG image?)")
            return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        image = np.asarray(frame)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"a camera frame must be uint8 (H, W, 3) or JPEG bytes, got {image.dtype} {image.shape}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if self.color == "bgr" else image
