"""Solutions to the course's exercises (``notebooks/``), one per ``fsth.exercises.check_*``.

Try first; peek when stuck: ``from fsth.solutions import adain``. Each is written the way
a learner would, from the paper and the lesson — short and plain — not by calling the
fsth function it is checked against.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .landmarks.parts import PART_COLORS, PARTS


# 00 ------------------------------------------------------------------------------------
def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.asarray(images)).float() / 127.5 - 1
    return x.movedim(-1, -3)


# 01 ------------------------------------------------------------------------------------
def landmark_image(points: np.ndarray, size: int) -> np.ndarray:
    """The 68 points as coloured polylines on black, one colour per part, eyes and lips closed."""
    canvas = np.zeros((size, size, 3), np.uint8)
    width = max(1, round(size / 128))  # 2 px at 256 px
    fixed = np.round(np.asarray(points, np.float64) * 16).astype(np.int32)  # 1/16 px: shift=4
    for part, (start, stop, closed) in PARTS.items():
        cv2.polylines(canvas, [fixed[start:stop]], closed, PART_COLORS[part], thickness=width,
                      lineType=cv2.LINE_AA, shift=4)
    return canvas


# 02 ------------------------------------------------------------------------------------
def episode(num_frames: int, k: int, seed: int) -> tuple[np.ndarray, int]:
    """K shots and one held-out target: K + 1 distinct frames, the last one held out."""
    chosen = np.random.default_rng(seed).choice(num_frames, size=k + 1, replace=False)
    return chosen[:-1], int(chosen[-1])


# 03 ------------------------------------------------------------------------------------
class ResBlockDown(nn.Module):
    """ReLU → conv1 → ReLU → conv2 → avg-pool, plus a 1×1 skip of the avg-pooled input."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        return F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x, 2))


def embed_average(embedder, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """(B, K, 3, S, S) frames and landmark images -> ê (B, D): embed every frame, average over K."""
    b, k = frames.shape[:2]
    e = embedder(frames.flatten(0, 1), landmarks.flatten(0, 1))  # (B·K, D)
    return e.view(b, k, -1).mean(dim=1)


# 04 ------------------------------------------------------------------------------------
def adain(x: torch.Tensor, psi: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each channel of each image over H and W, then scale and shift by psi = (scale, bias)."""
    scale, bias = psi[:, :, None, None].chunk(2, dim=1)
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * scale + bias


# 05 / 06 -------------------------------------------------------------------------------
def hinge_loss(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """D's hinge loss on raw scores: push reals above +1 and fakes below −1, then stop."""
    return F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()


def feature_matching(fake_features, real_features) -> torch.Tensor:
    """Sum over D's layers of the mean |fake − real| activation; the reals are a fixed target."""
    return sum((f - r.detach()).abs().mean() for f, r in zip(fake_features, real_features))


def embedding_match(w_rows: torch.Tensor, e_hat: torch.Tensor) -> torch.Tensor:
    """L_MCH: the mean |Wᵢ − êᵢ|."""
    return (w_rows - e_hat).abs().mean()


# 07 ------------------------------------------------------------------------------------
def personalize(model, e_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fine-tuning starts from ψ′ = P·ê (the generator's AdaIN parameters) and w′ = w₀ + ê."""
    psi = model.generator.projection(e_hat[None])[0]
    w = model.discriminator.w0 + e_hat
    return psi, w


# 08 ------------------------------------------------------------------------------------
def _normaliser(points: np.ndarray) -> np.ndarray:
    """2x3 similarity that puts the eye centres at (−0.5, 0) and (0.5, 0)."""
    right, left = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    centre, axis = (right + left) / 2, left - right
    cos, sin = axis / (axis @ axis)
    rot = np.array([[cos, sin], [-sin, cos]])
    return np.hstack([rot, -(rot @ centre)[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def relative_adaptation(driving: np.ndarray, portrait: np.ndarray, reference: int = 0) -> np.ndarray:
    """The portrait's own landmarks plus the driving face's motion since frame ``reference``,
    measured in normalised face coordinates (so size and tilt don't transfer)."""
    to_norm = _normaliser(driving[reference])  # one transform for the whole driving clip
    motion = np.stack([_apply(to_norm, d) for d in driving]) - _apply(to_norm, driving[reference])
    portrait_norm = _normaliser(portrait)
    moved = _apply(portrait_norm, portrait) + motion
    back = np.linalg.inv(portrait_norm[:, :2])
    return ((moved - portrait_norm[:, 2]) @ back.T).astype(np.float32)


# 09 ------------------------------------------------------------------------------------
def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: sweep the threshold; where the false-positive rate meets the
    false-negative rate (1 − TPR), interpolating between the two ROC points around it."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    j = int(np.argmax(fnr <= fpr))  # first point past the crossing
    if j == 0:
        return float(fpr[0])
    t = (fnr[j - 1] - fpr[j - 1]) / ((fnr[j - 1] - fpr[j - 1]) - (fnr[j] - fpr[j]))
    return float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))


# 10 ------------------------------------------------------------------------------------
def piecewise_warp(source_points: np.ndarray, target_points: np.ndarray, size: int) -> np.ndarray:
    """For each target pixel, its position in the source: triangle by triangle, the affine map
    that takes a target triangle's corners to the source triangle's corners."""
    from scipy.spatial import Delaunay

    from .warp import border_anchors

    src = np.concatenate([source_points, border_anchors(size)])
    dst = np.concatenate([np.clip(target_points, 0, size - 1), border_anchors(size)])
    triangles = Delaunay(dst)
    ys, xs = np.mgrid[0:size, 0:size]
    pixels = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    which = triangles.find_simplex(pixels)
    out = pixels.copy()
    for t, corners in enumerate(triangles.simplices):
        inside = which == t
        if not inside.any():
            continue
        # solve [x y 1] @ A = source position for the three corners
        A = np.linalg.solve(np.c_[dst[corners], np.ones(3)], src[corners])
        out[inside] = np.c_[pixels[inside], np.ones(inside.sum())] @ A
    return out.reshape(size, size, 2)
