"""Face chips for the identity network, differentiable in the image.

dlib aligns a face by a similarity transform that maps its 68 landmarks onto a mean face
(``dlib.get_face_chip_details(shape, 150, 0.25)``). We ask dlib for that transform — it
depends only on the landmarks, so needs no gradient — and sample the chip with
``grid_sample``, so an identity loss on generated frames reaches the generator.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .facenet import CHIP_SIZE


def chip_corners(landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = 0.25) -> np.ndarray:
    """Image positions (x, y) of the chip's top-left, top-right and bottom-right pixels: (3, 2)."""
    import dlib

    points = np.asarray(landmarks, np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be 68 finite (x, y) points; got shape {points.shape}")
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(math.ceil(x1)), int(math.ceil(y1))),
                                       [dlib.point(int(round(x)), int(round(y))) for x, y in points])
    details = dlib.get_face_chip_details(shape, size, padding)
    rect, angle = details.rect, details.angle
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = np.array([[rect.left(), rect.top()], [rect.right(), rect.top()], [rect.right(), rect.bottom()]])
    return (corners - centre) @ rotation.T + centre


def face_chips(images: torch.Tensor, landmarks: np.ndarray, size: int = CHIP_SIZE) -> torch.Tensor:
    """Aligned chips (B, 3, size, size) in [0, 255] from images (B, 3, H, W) in [-1, 1] and
    landmarks (B, 68, 2) in image pixels. Large faces are first shrunk with antialiasing
    (dlib uses an image pyramid for the same reason)."""
    b, _, h, w = images.shape
    corners = np.stack([chip_corners(p, size) for p in np.asarray(landmarks)])  # (B, 3, 2)
    pixels = (images.float() + 1) * 127.5
    side = float(np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1).max())
    if side > 1.25 * size:  # shrink a large face to about the chip's scale first (dlib: an image pyramid)
        pixels = F.interpolate(pixels, scale_factor=1.25 * size / side, mode="bicubic", antialias=True,
                               align_corners=False)
    # chip pixel (c, r) ↦ image point P1 + c/(size-1)·(P2 − P1) + r/(size-1)·(P3 − P2)
    steps = torch.linspace(0, 1, size, dtype=torch.float32)
    p = torch.as_tensor(corners, dtype=torch.float32)
    grid = (p[:, None, None, 0] + steps[None, None, :, None] * (p[:, 1] - p[:, 0])[:, None, None]
            + steps[None, :, None, None] * (p[:, 2] - p[:, 1])[:, None, None])  # (B, size, size, 2)
    # pixel centres: x_norm = (2x + 1) / W − 1 with align_corners=False, in the original image's W
    normalised = torch.stack([(2 * grid[..., 0] + 1) / w - 1, (2 * grid[..., 1] + 1) / h - 1], dim=-1)
    return F.grid_sample(pixels, normalised.to(pixels.device), mode="bilinear", padding_mode="border",
                         align_corners=False)
