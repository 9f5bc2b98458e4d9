"""Where a landmark warp fails, read from the 68 points: the open mouth and the closing eyes.

A warp moves the portrait's pixels, so it cannot show what the portrait hides: the inside of
a mouth that was closed, or eyelid skin over an eye that was open. These masks mark those
regions in a target frame, given the shot the pixels come from:

    priors = warp_priors(shot_points, target_points, size)   # (T, 2, S, S) float32 in [0, 1]

channel 0: the target's mouth interior (inside the inner lips); channel 1: the target's eyes,
weighted by how much more closed they are than in the shot (0: as open, 1: shut). The warping
generator gives its synthesis path these regions (its mask prior), and training weights its
loss on them. ``mouth_opening``, ``eye_opening`` and ``yaw`` measure the same states, so
episodes can pair a shot and a target where warping fails.
"""
from __future__ import annotations

import cv2
import numpy as np

INNER_LIPS = np.arange(60, 68)
EYES = (np.arange(36, 42), np.arange(42, 48))  # each: outer corner, two upper-lid points, inner corner, two lower
_SHIFT = 4  # sub-pixel bits for OpenCV


def _points(points) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points[None] if points.ndim == 2 else points


def interocular(points) -> np.ndarray:
    """(T,) distance between the outer eye corners (36, 45): the face's scale."""
    p = _points(points)
    return np.maximum(np.linalg.norm(p[:, 45] - p[:, 36], axis=-1), 1e-6)


def mouth_opening(points) -> np.ndarray:
    """(T,) gap between the inner lips (61-63 vs 67-65) over the inter-ocular distance."""
    p = _points(points)
    gap = np.linalg.norm(p[:, [61, 62, 63]] - p[:, [67, 66, 65]], axis=-1).mean(1)
    return gap / interocular(p)


def eye_gaps(points) -> np.ndarray:
    """(T, 2) lid gap of each eye (37/38 vs 41/40, 43/44 vs 47/46), in pixels."""
    p = _points(points)
    return np.stack([np.linalg.norm(p[:, e[[1, 2]]] - p[:, e[[5, 4]]], axis=-1).mean(1) for e in EYES], 1)


def eye_opening(points) -> np.ndarray:
    """(T,) mean lid gap of both eyes over the inter-ocular distance."""
    return eye_gaps(points).mean(1) / interocular(points)


def eye_closure(shot_points, target_points) -> np.ndarray:
    """(T, 2) how much more closed each target eye is than the shot's, in [0, 1]: 1 − target gap
    / shot gap, each over its face's inter-ocular distance. shot_points: one shot (68, 2) for
    every target, or one per target (T, 68, 2)."""
    shots, targets = _points(shot_points), _points(target_points)
    opened = eye_gaps(shots) / interocular(shots)[:, None]
    return np.clip(1 - (eye_gaps(targets) / interocular(targets)[:, None]) / np.maximum(opened, 1e-6), 0, 1)


def yaw(points) -> np.ndarray:
    """(T,) a head-turn proxy in [-1, 1]: where the nose tip (30) sits between the jaw's ends (0, 16)."""
    p = _points(points)
    left, right, nose = p[:, 0, 0], p[:, 16, 0], p[:, 30, 0]
    return 2 * (nose - left) / np.maximum(right - left, 1e-6) - 1


def _fixed(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * (1 << _SHIFT)).astype(np.int32)


def fill_polygon(canvas: np.ndarray, polygon, value) -> None:
    """Fill ``polygon`` (N, 2), in pixels with sub-pixel precision, anti-aliased, into ``canvas``."""
    cv2.fillPoly(canvas, [_fixed(polygon)], value, cv2.LINE_AA, _SHIFT)


def trace_polyline(canvas: np.ndarray, points, closed: bool, value) -> None:
    """Draw the one-pixel, anti-aliased line through ``points`` (N, 2) into ``canvas``."""
    cv2.polylines(canvas, [_fixed(points)], closed, value, 1, cv2.LINE_AA, _SHIFT)


def mouth_masks(points, size: int) -> np.ndarray:
    """(T, S, S) float32: the inside of the inner lips (anti-aliased)."""
    p = _points(points)
    masks = np.zeros((len(p), size, size), np.float32)
    for mask, frame in zip(masks, p):
        fill_polygon(mask, frame[INNER_LIPS], 1.0)
    return masks


def eye_masks(points, size: int, heights=None) -> np.ndarray:
    """(T, 2, S, S) float32: an ellipse over each eye, as wide as the eye and ``heights`` (T, 2)
    pixels tall (default: the eye's own lid gap), grown by a pixel so a shut eye still has one."""
    p = _points(points)
    heights = eye_gaps(p) if heights is None else np.asarray(heights, np.float64).reshape(len(p), 2)
    masks = np.zeros((len(p), 2, size, size), np.float32)
    for t, frame in enumerate(p):
        for side, eye in enumerate(EYES):
            centre = frame[eye].mean(0)
            width = np.linalg.norm(frame[eye[3]] - frame[eye[0]]) * 0.6 + 1
            height = heights[t, side] * 0.5 + 1
            angle = np.degrees(np.arctan2(*(frame[eye[3]] - frame[eye[0]])[::-1]))
            box = ((float(centre[0]), float(centre[1])), (float(2 * width), float(2 * height)), float(angle))
            cv2.ellipse(masks[t, side], box, 1.0, -1, cv2.LINE_AA)
    return masks


def warp_priors(shot_points, target_points, size: int) -> np.ndarray:
    """(T, 2, S, S) float32: the target's mouth interior, and its eyes weighted by how much
    more closed they are than in the (first) shot: where a warp of the shot must fail."""
    targets, shot = _points(target_points), _points(shot_points)[:1]
    shot_gaps, target_gaps = eye_gaps(shot)[0], eye_gaps(targets)  # (2,), (T, 2)
    closure = np.clip(1 - target_gaps / np.maximum(shot_gaps, 1e-6), 0, 1)  # (T, 2)
    eyes = eye_masks(targets, size, heights=np.maximum(target_gaps, shot_gaps[None]))  # the open eye's extent
    return np.stack([mouth_masks(targets, size), (eyes * closure[:, :, None, None]).max(1)], 1)
