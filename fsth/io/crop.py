"""Square face crops from landmarks, smoothed over time, with the landmarks moved along.

A box is (x0, y0, side) in source pixels: the crop covers [x0, x0 + side) x [y0, y0 + side).
"""
from __future__ import annotations

import cv2
import numpy as np


CROP_MARGIN = 0.7  # extra side around the landmarks' extent: keeps hair and chin (the one place it is set)


def face_box(points: np.ndarray, margin: float = CROP_MARGIN, lift: float = 0.12) -> np.ndarray:
    """Square box around the 68 landmarks: (x0, y0, side) float32 for (68, 2) or (T, 68, 2).

    margin: extra side length as a fraction of the landmarks' extent (0.7 keeps hair and chin).
    lift: the centre moves up by this fraction of the landmark height (the forehead has no points).
    """
    points = np.asarray(points, np.float32)
    low, high = points.min(axis=-2), points.max(axis=-2)
    extent = high - low
    side = extent.max(axis=-1) * (1 + margin)
    cx = (low[..., 0] + high[..., 0]) / 2
    cy = (low[..., 1] + high[..., 1]) / 2 - lift * extent[..., 1]
    return np.stack([cx - side / 2, cy - side / 2, side], axis=-1).astype(np.float32)


def smooth_boxes(boxes: np.ndarray, times: np.ndarray | None = None, sigma: float = 8.0) -> np.ndarray:
    """Gaussian-smooth boxes (T, 3) over time so crops don't jitter.

    times: frame index (or any time unit) of each box, for sparsely sampled frames;
    sigma: the smoothing width in those units. Smoothing acts on centre and side.
    """
    boxes = np.asarray(boxes, np.float64)
    if len(boxes) < 2 or sigma <= 0:
        return boxes.astype(np.float32)
    times = np.arange(len(boxes), dtype=np.float64) if times is None else np.asarray(times, np.float64)
    centre = boxes[:, :2] + boxes[:, 2:3] / 2
    weights = np.exp(-0.5 * ((times[:, None] - times[None, :]) / sigma) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    centre, side = weights @ centre, weights @ boxes[:, 2]
    return np.concatenate([centre - side[:, None] / 2, side[:, None]], axis=1).astype(np.float32)


def crop_face(image: np.ndarray, box: np.ndarray, size: int,
              points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Cut the square ``box`` out of ``image`` (padding by edge replication) and resize it.

    Returns (crop uint8 (size, size, 3), points moved into crop pixels or None,
    the integer box actually used (x0, y0, side)).
    """
    x0, y0, side = (int(round(float(v))) for v in box)
    side = max(side, 1)
    height, width = image.shape[:2]
    pad_l, pad_t = max(0, -x0), max(0, -y0)
    pad_r, pad_b = max(0, x0 + side - width), max(0, y0 + side - height)
    window = image[max(0, y0):min(height, y0 + side), max(0, x0):min(width, x0 + side)]
    if window.size == 0:
        raise ValueError(f"face box {box} lies outside the {width}x{height} image")
    if pad_l or pad_t or pad_r or pad_b:
        window = cv2.copyMakeBorder(window, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    crop = cv2.resize(window, (size, size), interpolation=interp)
    moved = None
    if points is not None:
        scale = size / side
        moved = ((np.asarray(points, np.float32) - [x0, y0] + 0.5) * scale - 0.5).astype(np.float32)
    return crop, moved, np.array([x0, y0, side], np.float32)
