"""The landmark-warp baseline: move the portrait's own pixels to the driving landmarks.

No learning at all: the portrait's 68 landmarks plus 8 anchors on the frame's border are
triangulated (Delaunay, scipy) *in each target frame*; every output pixel finds its triangle
there and takes its barycentric position in the same triangle of the portrait, a
piecewise-affine map that ``grid_sample`` applies to the whole batch at once.

Warping keeps texture and identity by construction; it cannot open a closed mouth, show
teeth, turn the head far or relight the face — that is what the generator is for.

    frames = warp_portrait(portrait, portrait_points, driving_points)   # (T, S, S, 3) uint8
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import Delaunay


def border_anchors(size: int) -> np.ndarray:
    """8 fixed points on the frame's border (corners and edge midpoints): (8, 2)."""
    edge, mid = size - 1, (size - 1) / 2
    return np.array([[0, 0], [mid, 0], [edge, 0], [edge, mid], [edge, edge], [mid, edge], [0, edge], [0, mid]],
                    np.float64)


@functools.cache
def _threadpools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def source_positions(source_points: np.ndarray, target_points: np.ndarray, size: int) -> np.ndarray:
    """For every pixel of a target frame, where to sample the source: (S, S, 2) in (x, y) pixels.

    source_points, target_points: (68, 2) in pixels of the (square) source and target frames.
    scipy's point location runs LAPACK per triangle: with BLAS on one thread (threadpoolctl),
    since its idle threads fighting torch's for two cores made it a thousand times slower."""
    anchors = border_anchors(size)
    src = np.concatenate([np.asarray(source_points, np.float64), anchors])
    dst = np.concatenate([np.clip(np.asarray(target_points, np.float64), 0, size - 1), anchors])
    mesh = Delaunay(dst)
    ys, xs = np.mgrid[0:size, 0:size]
    pixels = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    with _threadpools().limit(limits=1, user_api="blas"):
        simplex = mesh.find_simplex(pixels)
        inside = simplex >= 0
        simplex = np.where(inside, simplex, 0)
        affine = mesh.transform[simplex]  # (P, 3, 2): barycentric coordinates from (x, y)
    bary2 = np.einsum("pij,pj->pi", affine[:, :2], pixels - affine[:, 2])
    bary = np.concatenate([bary2, 1 - bary2.sum(1, keepdims=True)], 1)  # (P, 3)
    mapped = np.einsum("pk,pkd->pd", bary, src[mesh.simplices[simplex]])
    mapped[~inside] = pixels[~inside]  # off the mesh (never, with border anchors): identity
    return mapped.reshape(size, size, 2)


def warp_frames(image: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
    """Sample image (3, H, W) at positions (T, S, S, 2) in its pixels → (T, 3, S, S)."""
    h, w = image.shape[-2:]
    grid = torch.as_tensor(positions, dtype=torch.float32, device=image.device)
    normalised = torch.stack([(2 * grid[..., 0] + 1) / w - 1, (2 * grid[..., 1] + 1) / h - 1], dim=-1)
    batch = image[None].expand(len(grid), -1, -1, -1)
    return F.grid_sample(batch, normalised, mode="bilinear", padding_mode="border", align_corners=False)


def warp_portrait(portrait: np.ndarray, portrait_points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The portrait (S, S, 3) uint8 with landmarks (68, 2) moved to each of ``targets``
    (T, 68, 2): uint8 (T, S, S, 3)."""
    portrait = np.asarray(portrait)
    size = portrait.shape[0]
    if portrait.ndim != 3 or portrait.shape[1] != size or portrait.shape[2] != 3:
        raise ValueError(f"portrait must be a square (S, S, 3) image; got shape {portrait.shape}")
    targets = np.asarray(targets, np.float64).reshape(-1, 68, 2)
    if not (np.isfinite(targets).all() and np.isfinite(portrait_points).all()):
        raise ValueError("landmarks must be finite")
    positions = np.stack([source_positions(portrait_points, t, size) for t in targets])
    image = torch.from_numpy(portrait).permute(2, 0, 1).float()
    warped = warp_frames(image, positions)
    return warped.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def sampling_grids(source_points: np.ndarray, target_points: np.ndarray, size: int) -> torch.Tensor:
    """Baseline sampling grids for the warping generator: for each target (T, 68, 2) and each
    source shot (K, 68, 2), where every target pixel lies in the shot, in ``grid_sample``'s
    [-1, 1] coordinates (align_corners=False): (T, K, S, S, 2) float32."""
    sources = np.asarray(source_points, np.float64).reshape(-1, 68, 2)
    targets = np.asarray(target_points, np.float64).reshape(-1, 68, 2)
    positions = np.stack([np.stack([source_positions(s, t, size) for s in sources]) for t in targets])
    return torch.from_numpy((2 * positions + 1) / size - 1).float()


def upsampled_positions(positions_at, source_points, target_points, size: int, map_size: int) -> np.ndarray:
    """``positions_at(source, target, map_size)`` (S', S', 2) computed at ``map_size`` px on
    points scaled there, then resized to ``size`` (bilinear) and scaled back: (S, S, 2). A
    piecewise-affine map is smooth, so this costs ~1/16 of the map at 4× the size for a
    fraction of a pixel."""
    if map_size >= size:
        return positions_at(source_points, target_points, size)
    scale = map_size / size
    small = positions_at((np.asarray(source_points, np.float64) + 0.5) * scale - 0.5,
                         (np.asarray(target_points, np.float64) + 0.5) * scale - 0.5, map_size)
    grid = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None].float()
    up = F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    return (up.astype(np.float64) + 0.5) / scale - 0.5


class WarpedPortrait:
    """The landmark-warp baseline with the interface of ``fsth.person.Person`` (``render``,
    ``landmarks``, ``shots``, ``size``), so ``fsth animate --method warp`` needs no model.

    shots: uint8 (K, S, S, 3) crops; landmarks: (K, 68, 2). The first shot is warped.
    map_size: the resolution the map is computed at (default: the shots'; 64 is ~10× faster
    at 256 px and what live rendering uses)."""

    def __init__(self, shots: np.ndarray, landmarks: np.ndarray, map_size: int | None = None):
        self.shots, self.landmarks = np.asarray(shots), np.asarray(landmarks, np.float32)
        self.map_size = map_size or self.shots.shape[1]
        self.steps = 0

    @property
    def size(self) -> int:
        return self.shots.shape[1]

    def positions(self, target_points: np.ndarray) -> np.ndarray:
        """Where each output pixel samples the first shot, for one target (68, 2): (S, S, 2)."""
        return upsampled_positions(source_positions, self.landmarks[0], target_points, self.size, self.map_size)

    def render(self, landmarks: np.ndarray, batch: int = 32) -> np.ndarray:
        targets = np.asarray(landmarks, np.float64).reshape(-1, 68, 2)
        if not np.isfinite(targets).all():
            raise ValueError("landmarks must be finite")
        image = torch.from_numpy(self.shots[0]).permute(2, 0, 1).float()
        out = []
        for start in range(0, len(targets), batch):
            positions = np.stack([self.positions(t) for t in targets[start:start + batch]])
            out.append(warp_frames(image, positions).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
        return np.concatenate(out)
