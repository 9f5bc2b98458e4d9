"""A small learned refiner of closing eyes: the learned path over the guard-rails' lid rule.

The guard-rails (fsth.eyelids) lay a lid over the shot's eye where the target's eye is more
closed; how a real lid looks as it comes down — its shading, the weight of the lash line, the
crease — is learned here, on SynthHeads blinks (fsth.train.eyes). The network sees a patch
around each eye, aligned by the eye's corners, so the same weights serve 64 px and 512 px:

    inputs (B, 9, 32, 64): the rendered eye (3), the shot's eye (3), the target's eye opening,
    the target's upper lid and the shot's eye opening (1 each, drawn from the landmarks)
    ->  a change of colour (3), added to the rendered eye, faded out inside an ellipse over the eye and its lid.

As in LivePortrait's eye retargeting, the landmarks decide the geometry and only the
appearance is learned. Untrained, the refiner changes nothing (its last layer starts at zero),
so a model without trained eyes renders exactly as the guard-rails do.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..landmarks.regions import EYES

PATCH_H, PATCH_W = 32, 64  # a patch's pixels; the eye's corners lie EYE_PX apart on row CORNER_ROW
EYE_PX = 32
CORNER_ROW = 18  # the corners a little below the middle: more of the lid and crease above
FADE_AXES = (0.8, 0.36, -0.04)  # the ellipse a patch may change: half-width, half-height, centre's v (eye widths)
FADE_WIDTH = 0.35  # the change fades out over the ellipse's outer 35 %
_SHIFT = 4


def eye_frames(points: np.ndarray) -> np.ndarray:
    """(T, 2, 3, 2): for each frame (points (T, 68, 2) in pixels) and eye, its patch's frame:
    origin (the corners' midpoint), x axis (outer to inner corner, as long as the eye is wide)
    and y axis (down the face). The second eye's frame is mirrored, so both look alike."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    frames = np.zeros((len(p), 2, 3, 2))
    for side, eye in enumerate(EYES):
        outer, inner = (p[:, eye[0]], p[:, eye[3]]) if side == 0 else (p[:, eye[3]], p[:, eye[0]])
        x_axis = inner - outer
        flat = np.linalg.norm(x_axis, axis=1) < 1.0  # corners (nearly) on each other: a pixel-wide eye, level
        x_axis[flat] = [1.0, 0.0] if side == 0 else [-1.0, 0.0]
        y_axis = np.stack([-x_axis[:, 1], x_axis[:, 0]], 1) * (1 if side == 0 else -1)
        frames[:, side] = np.stack([(outer + inner) / 2, x_axis, y_axis], 1)
    return frames


def to_patch(points: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Image pixels (..., 2) -> patch pixels (x, y) of one eye's ``frame`` (3, 2)."""
    origin, x_axis, y_axis = frame
    rel = np.asarray(points, np.float64) - origin
    width2 = x_axis @ x_axis
    u, v = rel @ x_axis / width2, rel @ y_axis / width2  # in eye widths; the axes are orthogonal, equal length
    return np.stack([u * EYE_PX + PATCH_W / 2 - 0.5, v * EYE_PX + CORNER_ROW - 0.5], -1)


def patch_grids(frames: np.ndarray, size: int) -> torch.Tensor:
    """(N, H, W, 2): where each patch pixel lies in an S-px image, in grid_sample's coordinates
    (align_corners=False), for frames (N, 3, 2)."""
    frames = np.asarray(frames, np.float64).reshape(-1, 3, 2)
    u = (np.arange(PATCH_W) + 0.5 - PATCH_W / 2) / EYE_PX
    v = (np.arange(PATCH_H) + 0.5 - CORNER_ROW) / EYE_PX
    uu, vv = np.meshgrid(u, v)  # (H, W)
    pixels = (frames[:, None, None, 0] + uu[None, ..., None] * frames[:, None, None, 1]
              + vv[None, ..., None] * frames[:, None, None, 2])
    return torch.from_numpy(((pixels + 0.5) * 2 / size - 1).astype(np.float32))


def image_grids(frames: np.ndarray, size: int) -> torch.Tensor:
    """(N, S, S, 2): where each image pixel lies in its eye's patch (the inverse of
    :func:`patch_grids`), in grid_sample's coordinates; an affine map, so torch's affine_grid."""
    frames = np.asarray(frames, np.float64).reshape(-1, 3, 2)
    origin, x_axis, y_axis = frames[:, 0], frames[:, 1], frames[:, 2]
    width2 = (x_axis * x_axis).sum(1, keepdims=True)
    rows = np.stack([x_axis / width2 * 2 * EYE_PX / PATCH_W, y_axis / width2 * 2 * EYE_PX / PATCH_H], 1)  # (N, 2, 2)
    shift = -np.einsum("nij,nj->ni", rows, origin) + np.array([0.0, 2 * CORNER_ROW / PATCH_H - 1])
    # image pixel = x_n * S / 2 + (S - 1) / 2 for affine_grid's normalised x_n
    theta = np.concatenate([rows * size / 2, (shift + rows.sum(2) * (size - 1) / 2)[..., None]], 2)
    return F.affine_grid(torch.from_numpy(theta.astype(np.float32)), [len(frames), 1, size, size],
                         align_corners=False)


def _draw(polygon: np.ndarray, closed: bool) -> np.ndarray:
    canvas = np.zeros((PATCH_H, PATCH_W), np.uint8)
    fixed = np.round(polygon * (1 << _SHIFT)).astype(np.int32)
    if closed:
        cv2.fillPoly(canvas, [fixed], 255, cv2.LINE_AA, _SHIFT)
    cv2.polylines(canvas, [fixed], closed, 255, 1, cv2.LINE_AA, _SHIFT)
    return canvas


def eye_maps(points: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(T, 2, 2, H, W) float32 in [0, 1]: each eye's opening (filled) and its upper lid (a line,
    corner to corner), drawn in its patch (``frames`` from :func:`eye_frames`)."""
    p = np.asarray(points, np.float64).reshape(-1, 68, 2)
    maps = np.zeros((len(p), 2, 2, PATCH_H, PATCH_W), np.float32)
    for t in range(len(p)):
        for side, eye in enumerate(EYES):
            outline = to_patch(p[t, eye], frames[t, side])
            maps[t, side, 0] = _draw(outline, True) / 255.0
            maps[t, side, 1] = _draw(outline[:4], False) / 255.0
    return maps


def _fade() -> torch.Tensor:
    """(1, 1, H, W): where a patch may change the image — an ellipse over the eye and its lid,
    fading to nothing well inside the patch, so no seam shows."""
    u = (np.arange(PATCH_W) + 0.5 - PATCH_W / 2) / EYE_PX  # eye widths from the corners' midpoint
    v = (np.arange(PATCH_H) + 0.5 - CORNER_ROW) / EYE_PX
    r = np.hypot(u[None, :] / FADE_AXES[0], (v[:, None] - FADE_AXES[2]) / FADE_AXES[1])
    window = np.clip((1 - r) / FADE_WIDTH, 0, 1)
    return torch.from_numpy((window * window * (3 - 2 * window)).astype(np.float32))[None, None]


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.2))


class EyeRefiner(nn.Module):
    """A three-level U-Net on eye patches: (B, 9, 32, 64) -> the change to the rendered eye
    (B, 3, 32, 64) in [-2, 2] (image units, [-1, 1]), faded out inside an ellipse."""

    INPUTS = 9

    def __init__(self, width: int = 16):
        super().__init__()
        self.down1 = _block(self.INPUTS, width)
        self.down2 = _block(width, 2 * width, 2)
        self.down3 = _block(2 * width, 4 * width, 2)
        self.up2 = _block(6 * width, 2 * width)
        self.up1 = _block(3 * width, width)
        self.out = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # untrained: change nothing
        nn.init.zeros_(self.out.bias)
        self.register_buffer("fade", _fade(), persistent=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        a = self.down1(inputs)
        b = self.down2(a)
        c = self.down3(b)
        up = lambda x, like: F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        b = self.up2(torch.cat([up(c, b), b], 1))
        a = self.up1(torch.cat([up(b, a), a], 1))
        return 2 * torch.tanh(self.out(a).float()) * self.fade

    def patches(self, image: torch.Tensor, shot: torch.Tensor, shot_points: np.ndarray,
                target_points: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The inputs (B·2, 9, H, W) for ``image`` (B, 3, S, S) rendered for ``target_points``
        (B, 68, 2) from ``shot`` (B, 3, S, S) with ``shot_points`` (B, 68, 2), all in [-1, 1] /
        pixels at S; and the target's eye frames (B, 2, 3, 2)."""
        size = image.shape[-1]
        targets, shots = eye_frames(target_points), eye_frames(shot_points)
        dev = image.device
        rendered = sample_patches(image, targets, size)
        shot_eyes = sample_patches(shot, shots, size)
        target_maps = torch.from_numpy(eye_maps(target_points, targets)).flatten(0, 1).to(dev)
        shot_maps = torch.from_numpy(eye_maps(shot_points, shots)).flatten(0, 1)[:, :1].to(dev)
        return torch.cat([rendered, shot_eyes, target_maps * 2 - 1, shot_maps * 2 - 1], 1), targets

    def refine(self, image: torch.Tensor, shot: torch.Tensor, shot_points: np.ndarray,
               target_points: np.ndarray) -> torch.Tensor:
        """``image`` (B, 3, S, S) in [-1, 1] with its eyes refined: each patch's change pasted
        back through its frame (zero outside the patch) and added."""
        inputs, frames = self.patches(image, shot, shot_points, target_points)
        change = self(inputs.to(next(self.parameters()).dtype))
        size = image.shape[-1]
        grids = image_grids(frames.reshape(-1, 3, 2), size).to(image.device)
        pasted = F.grid_sample(change.float(), grids, mode="bilinear", padding_mode="zeros",
                               align_corners=False)  # (B·2, 3, S, S)
        return (image.float() + pasted.unflatten(0, (-1, 2)).sum(1)).clamp(-1, 1)


def sample_patches(images: torch.Tensor, frames: np.ndarray, size: int) -> torch.Tensor:
    """(B·2, 3, H, W): both eyes' patches of images (B, 3, S, S) along frames (B, 2, 3, 2)."""
    grids = patch_grids(frames.reshape(-1, 3, 2), size).to(images.device)
    return F.grid_sample(images.float().repeat_interleave(2, 0), grids, mode="bilinear",
                         padding_mode="border", align_corners=False)
