"""Reference solutions to the course's exercises (``notebooks/``), one per ``fsth.exercises.check_*``.

For teachers, and for CI's "solved" run of every notebook (tests/test_notebooks.py injects them).
This file lives outside the ``fsth`` package: it is not installed and a learner's notebook can't
import it by accident. Each is written the way a learner would, from the paper and the lesson —
short and plain — not by calling the fsth function it is checked against.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from fsth.landmarks.parts import PART_COLORS, PARTS


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


class ResBlock(nn.Module):
    """The bottleneck: x + conv2(ReLU(AdaIN(conv1(ReLU(AdaIN(x, ψ₁))), ψ₂))), at constant resolution.
    psi (B, 4·channels): the first AdaIN's scales and biases, then the second's."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(channels, channels, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        p1, p2 = psi.chunk(2, dim=1)
        h = self.conv1(F.relu(adain(x, p1)))
        h = self.conv2(F.relu(adain(h, p2)))
        return x + h


class ResBlockUp(nn.Module):
    """AdaIN → ReLU → upsample ×2 → conv1 → AdaIN → ReLU → conv2, plus a 1×1 skip of the upsampled input.
    psi (B, 2·cin + 2·cout): the first AdaIN's scales and biases, then the second's."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        p1, p2 = psi[:, : 2 * x.shape[1]], psi[:, 2 * x.shape[1]:]
        h = F.interpolate(F.relu(adain(x, p1)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(adain(self.conv1(h), p2)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


# 05 / 06 -------------------------------------------------------------------------------
def hinge_loss(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """D's hinge loss on raw scores: push reals above +1 and fakes below −1, then stop."""
    return F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()


def realism_score(v: torch.Tensor, w_rows: torch.Tensor, w0: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """r = V(x, y)ᵀ(Wᵢ + w₀) + b: one score per image, a dot product over the embedding dimension."""
    return (v * (w_rows + w0)).sum(dim=1) + b


def feature_matching(fake_features, real_features) -> torch.Tensor:
    """Sum over D's layers of the mean |fake − real| activation; the reals are a fixed target."""
    return sum((f - r.detach()).abs().mean() for f, r in zip(fake_features, real_features))


def embedding_match(w_rows: torch.Tensor, e_hat: torch.Tensor) -> torch.Tensor:
    """L_MCH: the mean |Wᵢ − êᵢ|."""
    return (w_rows - e_hat).abs().mean()


def generator_loss(D, fake, target, target_landmarks, video, w_rows, e_hat, weights) -> dict:
    """The generator side of one step, D frozen: pixel L1, −D(x̂), feature matching and L_MCH,
    each times its weight. ``w_rows``/``e_hat`` None: no L_MCH (fine-tuning)."""
    score, fake_features = D(fake, target_landmarks, video)
    with torch.no_grad():
        _, real_features = D.features(target, target_landmarks)
    losses = {"pixel": weights.pixel * (fake - target).abs().mean(),
              "adversarial": weights.adversarial * -score.mean(),
              "feature_matching": weights.feature_matching * feature_matching(fake_features, real_features)}
    if w_rows is not None and weights.embedding_match:
        losses["embedding_match"] = weights.embedding_match * embedding_match(w_rows.detach(), e_hat)
    return losses


def discriminator_loss(D, target, fake, target_landmarks, video, e_hat, weights) -> dict:
    """The discriminator side: the hinge on reals and (detached) fakes, and L_MCH pulling Wᵢ towards ê."""
    real_score, _ = D(target, target_landmarks, video)
    fake_score, _ = D(fake.detach(), target_landmarks, video)
    return {"d_hinge": hinge_loss(real_score, fake_score),
            "d_embedding_match": weights.embedding_match * embedding_match(D.W(video), e_hat.detach())}


def meta_step(model, batch, opt_g, opt_d, opt_w, weights) -> dict:
    """One meta-learning step: ê from the K shots, x̂ = G(y_t, ê); update E and G with D frozen,
    then D (its dense weights and its rows of W) on the real target and the detached fake."""
    E, G, D = model.embedder, model.generator, model.discriminator
    shots, shot_landmarks = batch["shots"], batch["shot_landmarks"]
    e_hat = embed_average(E, shots, shot_landmarks)
    fake = G(batch["target_landmarks"], e_hat)
    D.requires_grad_(False)
    g_losses = generator_loss(D, fake, batch["target"], batch["target_landmarks"], batch["video"],
                              D.W(batch["video"]), e_hat, weights)
    opt_g.zero_grad()
    sum(g_losses.values()).backward()
    opt_g.step()
    D.requires_grad_(True)
    d_losses = discriminator_loss(D, batch["target"], fake, batch["target_landmarks"], batch["video"], e_hat, weights)
    opt_d.zero_grad()
    opt_w.zero_grad()
    sum(d_losses.values()).backward()
    opt_d.step()
    opt_w.step()
    return {**g_losses, **d_losses}


# 07 ------------------------------------------------------------------------------------
def personalize(model, e_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fine-tuning starts from ψ′ = P·ê (the generator's AdaIN parameters) and w′ = w₀ + ê."""
    psi = model.generator.projection(e_hat[None])[0]
    w = model.discriminator.w0 + e_hat
    return psi, w


def finetune_step(make_fake, D, target, target_landmarks, opt_g, opt_d, weights) -> dict:
    """One fine-tuning step on the K shots: G′ (ψ′ and all its weights) with D′ frozen, then D′.
    No L_MCH: D′ has one column, w′, and no video index (video=None)."""
    D.requires_grad_(False)
    fake = make_fake()
    g_losses = generator_loss(D, fake, target, target_landmarks, None, None, None, weights)
    opt_g.zero_grad()
    sum(g_losses.values()).backward()
    opt_g.step()
    D.requires_grad_(True)
    real_score, _ = D(target, target_landmarks)
    fake_score, _ = D(fake.detach(), target_landmarks)
    d_losses = {"d_hinge": hinge_loss(real_score, fake_score)}
    opt_d.zero_grad()
    d_losses["d_hinge"].backward()
    opt_d.step()
    return {**g_losses, **d_losses}


# 08 ------------------------------------------------------------------------------------
def _normalizer(points: np.ndarray) -> np.ndarray:
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
    to_norm = _normalizer(driving[reference])  # one transform for the whole driving clip
    motion = np.stack([_apply(to_norm, d) for d in driving]) - _apply(to_norm, driving[reference])
    portrait_norm = _normalizer(portrait)
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


def temperature(log_odds: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that makes sigmoid(z / T) best calibrated: the smallest binary cross-entropy on
    held-out images (a one-dimensional search over log T)."""
    z, y = np.asarray(log_odds, np.float64), np.asarray(labels, np.float64)

    def nll(log_t):
        scaled = z / np.exp(log_t)
        return np.mean(np.logaddexp(0, scaled) - y * scaled)  # −log sigmoid, written so it can't overflow

    grid = np.linspace(-5, 5, 2001)
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = np.linspace(best - 0.01, best + 0.01, 201)
    return float(np.exp(fine[int(np.argmin([nll(t) for t in fine]))]))


# 10 ------------------------------------------------------------------------------------
def piecewise_warp(source_points: np.ndarray, target_points: np.ndarray, size: int) -> np.ndarray:
    """For each target pixel, its position in the source: triangle by triangle, the affine map
    that takes a target triangle's corners to the source triangle's corners."""
    from scipy.spatial import Delaunay

    from fsth.warp import border_anchors

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


def label_stamp(frame: np.ndarray, over_black: np.ndarray, over_white: np.ndarray) -> np.ndarray:
    """The visible label as one multiply-add: out = a·frame + b, b the label over black, a its
    change from black to white out of 255 (fsth.live.mark.LabelStamp)."""
    b = over_black.astype(np.float32)
    a = (over_white.astype(np.float32) - b) / 255.0
    return np.clip(frame * a + b + 0.5, 0, 255).astype(np.uint8)
