"""Landmark images: the 68 points drawn as coloured, anti-aliased polylines on black.

This is the generator's input ``y`` (docs/method.md): one colour per facial part, lines about
2 px wide at 256 px and scaled with the image size.
"""
from __future__ import annotations

import cv2
import numpy as np

from .parts import NUM_POINTS, PART_COLORS, PARTS

_SHIFT = 4  # sub-pixel precision for OpenCV: coordinates are given in 1/16 px


def line_width(size: int) -> int:
    """Line width in pixels for an image of side ``size`` (2 px at 256, never below 1)."""
    return max(1, int(round(size / 128)))


def _as_hw(size) -> tuple[int, int]:
    if isinstance(size, (tuple, list)):
        height, width = int(size[0]), int(size[1])
    else:
        height = width = int(size)
    if height <= 0 or width <= 0:
        raise ValueError(f"landmark image size must be positive, got {size!r}")
    return height, width


def _draw_one(canvas: np.ndarray, points: np.ndarray, thickness: int) -> None:
    fixed = np.round(np.asarray(points, np.float64) * (1 << _SHIFT)).astype(np.int32)
    for name, (start, stop, closed) in PARTS.items():
        cv2.polylines(canvas, [fixed[start:stop]], closed, PART_COLORS[name],
                      thickness=thickness, lineType=cv2.LINE_AA, shift=_SHIFT)


def draw_landmarks(points: np.ndarray, size, thickness: int | None = None) -> np.ndarray:
    """Draw landmark images.

    points: (68, 2) or (T, 68, 2) float, x then y, in pixels of the target image.
    size: side length, or (height, width).
    Returns uint8 RGB of shape (H, W, 3) or (T, H, W, 3).
    """
    points = np.asarray(points, dtype=np.float32)
    if points.shape[-2:] != (NUM_POINTS, 2):
        raise ValueError(f"expected landmarks of shape (..., 68, 2), got {points.shape}")
    height, width = _as_hw(size)
    thickness = thickness or line_width(min(height, width))
    batch = points.reshape(-1, NUM_POINTS, 2)
    out = np.zeros((len(batch), height, width, 3), np.uint8)
    for canvas, pts in zip(out, batch):
        if np.isfinite(pts).all():
            _draw_one(canvas, pts, thickness)
    return out if points.ndim == 3 else out[0]


def overlay_landmarks(image: np.ndarray, points: np.ndarray, alpha: float = 0.8) -> np.ndarray:
    """Blend the landmark drawing over an RGB image (for checking detections by eye)."""
    image = np.asarray(image)
    drawing = draw_landmarks(points, image.shape[:2]).astype(np.float32)
    mask = (drawing.max(axis=-1, keepdims=True) / 255.0) * alpha
    blended = image.astype(np.float32) * (1 - mask) + drawing * mask
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
