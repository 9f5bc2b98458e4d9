"""Images between numpy and torch: uint8 (..., H, W, 3) ⇄ float (..., 3, H, W) in [-1, 1],
fsth's tensor convention, and square frames resized with their landmarks."""
from __future__ import annotations

import cv2
import numpy as np
import torch


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1)
    return t.movedim(-1, -3)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().movedim(-3, -1).cpu().numpy()


def resize_frames(frames: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize square frames (T, S, S, 3) to ``size`` and move the landmarks with them."""
    src = frames.shape[1]
    if src == size:
        return frames, landmarks
    interp = cv2.INTER_AREA if src > size else cv2.INTER_CUBIC
    frames = np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])
    return frames, (landmarks + 0.5) * (size / src) - 0.5
