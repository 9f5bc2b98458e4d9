"""Patches aligned by two landmarks, and a small U-Net that changes them: the machinery of the
learned refiners (fsth.nn.eye_refiner, fsth.nn.mouth_refiner: each a :class:`PatchRefiner`).

A patch's *frame* (3, 2) is an origin (the midpoint of two anchor landmarks, e.g. an eye's or the
mouth's corners), an x axis (anchor to anchor) and a y axis (the x axis turned a quarter, down the
face). A :class:`PatchShape` says how many patch pixels the anchors lie apart and on which row,
so the same patch — and the same weights — serve a 64 px image and a 512 px one.

    image (B, 3, S, S) --sample_patches--> patches (B·P, 3, H, W) --PatchUNet--> change
    change --paste--> (B, 3, S, S), zero outside the patches, added to the image
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..landmarks.regions import fill_polygon, trace_polyline
from .temporal import moving_average

@dataclass(frozen=True)
class PatchShape:
    """A patch's pixels (``height`` × ``width``); the anchors lie ``span`` px apart on row
    ``anchor_row``; the change fades out inside an ellipse (``fade_axes``: half-width,
    half-height and centre's v, in anchor spans) over its outer ``fade_width``."""

    height: int
    width: int
    span: int
    anchor_row: int
    fade_axes: tuple[float, float, float]
    fade_width: float


def frames_between(first: np.ndarray, second: np.ndarray, flip: bool = False) -> np.ndarray:
    """(T, 3, 2): the frames of patches whose x axis runs from ``first`` to ``second`` (T, 2),
    y axis turned clockwise (down the face), or anticlockwise with ``flip`` (a mirrored patch).
    Anchors less than a pixel apart get a level axis a pixel long, so the frame stays finite."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    x_axis = second - first
    flat = np.linalg.norm(x_axis, axis=1) < 1.0
    x_axis[flat] = [-1.0, 0.0] if flip else [1.0, 0.0]
    y_axis = np.stack([-x_axis[:, 1], x_axis[:, 0]], 1) * (-1 if flip else 1)
    return np.stack([(first + second) / 2, x_axis, y_axis], 1)


def to_patch(points: np.ndarray, frame: np.ndarray, shape: PatchShape) -> np.ndarray:
    """Image pixels (..., 2) -> patch pixels (x, y) of one ``frame`` (3, 2)."""
    origin, x_axis, y_axis = frame
    rel = np.asarray(points, np.float64) - origin
    span2 = x_axis @ x_axis
    u, v = rel @ x_axis / span2, rel @ y_axis / span2  # in anchor spans; the axes are orthogonal, equal length
    return np.stack([u * shape.span + shape.width / 2 - 0.5, v * shape.span + shape.anchor_row - 0.5], -1)


def patch_grids(frames: np.ndarray, size: int, shape: PatchShape) -> torch.Tensor:
    """(N, H, W, 2): where each patch pixel lies in an S-px image, in grid_sample's coordinates
    (align_corners=False), for frames (N, 3, 2)."""
    frames = np.asarray(frames, np.float64).reshape(-1, 3, 2)
    u = (np.arange(shape.width) + 0.5 - shape.width / 2) / shape.span
    v = (np.arange(shape.height) + 0.5 - shape.anchor_row) / shape.span
    uu, vv = np.meshgrid(u, v)  # (H, W)
    pixels = (frames[:, None, None, 0] + uu[None, ..., None] * frames[:, None, None, 1]
              + vv[None, ..., None] * frames[:, None, None, 2])
    return torch.from_numpy(((pixels + 0.5) * 2 / size - 1).astype(np.float32))


def image_grids(frames: np.ndarray, size: int, shape: PatchShape) -> torch.Tensor:
    """(N, S, S, 2): where each image pixel lies in its patch (the inverse of
    :func:`patch_grids`), in grid_sample's coordinates; an affine map, so torch's affine_grid."""
    frames = np.asarray(frames, np.float64).reshape(-1, 3, 2)
    origin, x_axis, y_axis = frames[:, 0], frames[:, 1], frames[:, 2]
    span2 = (x_axis * x_axis).sum(1, keepdims=True)
    rows = np.stack([x_axis / span2 * 2 * shape.span / shape.width,
                     y_axis / span2 * 2 * shape.span / shape.height], 1)  # (N, 2, 2)
    shift = -np.einsum("nij,nj->ni", rows, origin) + np.array([0.0, 2 * shape.anchor_row / shape.height - 1])
    # image pixel = x_n * S / 2 + (S - 1) / 2 for affine_grid's normalised x_n
    theta = np.concatenate([rows * size / 2, (shift + rows.sum(2) * (size - 1) / 2)[..., None]], 2)
    return F.affine_grid(torch.from_numpy(theta.astype(np.float32)), [len(frames), 1, size, size],
                         align_corners=False)


def sample_patches(images: torch.Tensor, frames: np.ndarray, shape: PatchShape) -> torch.Tensor:
    """(B·P, C, H, W): the P patches of each of images (B, C, S, S) along frames (B, P, 3, 2)."""
    per_image = frames.shape[1]
    grids = patch_grids(frames.reshape(-1, 3, 2), images.shape[-1], shape).to(images.device)
    return F.grid_sample(images.float().repeat_interleave(per_image, 0), grids, mode="bilinear",
                         padding_mode="border", align_corners=False)


def paste(image: torch.Tensor, change: torch.Tensor, frames: np.ndarray, shape: PatchShape) -> torch.Tensor:
    """``image`` (B, 3, S, S) in [-1, 1] plus each of its patches' ``change`` (B·P, 3, H, W),
    taken back through its frame (frames (B, P, 3, 2); zero outside the patch)."""
    per_image = frames.shape[1]
    grids = image_grids(frames.reshape(-1, 3, 2), image.shape[-1], shape).to(image.device)
    pasted = F.grid_sample(change.float(), grids, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (image.float() + pasted.unflatten(0, (-1, per_image)).sum(1)).clamp(-1, 1)


def draw(polygon: np.ndarray, closed: bool, shape: PatchShape) -> np.ndarray:
    """(H, W) float32 in [0, 1]: ``polygon`` (N, 2) in patch pixels, anti-aliased; filled if
    ``closed``, else a line through its points."""
    canvas = np.zeros((shape.height, shape.width), np.uint8)
    if closed:
        fill_polygon(canvas, polygon, 255)
    trace_polyline(canvas, polygon, closed, 255)
    return canvas.astype(np.float32) / 255.0


def fade(shape: PatchShape) -> torch.Tensor:
    """(1, 1, H, W): where a patch may change the image — an ellipse fading smoothly to nothing
    well inside the patch, so no seam shows."""
    half_w, half_h, centre = shape.fade_axes
    u = (np.arange(shape.width) + 0.5 - shape.width / 2) / shape.span
    v = (np.arange(shape.height) + 0.5 - shape.anchor_row) / shape.span
    r = np.hypot(u[None, :] / half_w, (v[:, None] - centre) / half_h)
    window = np.clip((1 - r) / shape.fade_width, 0, 1)
    return torch.from_numpy((window * window * (3 - 2 * window)).astype(np.float32))[None, None]


def balance_gains(patches: torch.Tensor, grey: float = 0.5, most: float = 4.0) -> torch.Tensor:
    """(B, 3, 1, 1): per channel, what scales the mean of ``patches`` (B, 3, H, W) in [-1, 1]
    (as [0, 1] light) to ``grey``, within [1 / most, most]."""
    light = (patches.float() + 1) / 2
    return (grey / light.mean((2, 3), keepdim=True).clamp_min(1e-3)).clamp(1 / most, most)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.2))


class PatchUNet(nn.Module):
    """A three-level U-Net on patches: (B, inputs, H, W) -> a change of colour (B, 3, H, W) in
    [-2, 2] (image units, [-1, 1]), faded out inside the shape's ellipse. Its last layer starts
    at zero: untrained, it changes nothing."""

    def __init__(self, inputs: int, shape: PatchShape, width: int = 16):
        super().__init__()
        self.down1 = _block(inputs, width)
        self.down2 = _block(width, 2 * width, 2)
        self.down3 = _block(2 * width, 4 * width, 2)
        self.up2 = _block(6 * width, 2 * width)
        self.up1 = _block(3 * width, width)
        self.out = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("fade", fade(shape), persistent=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        a = self.down1(inputs)
        b = self.down2(a)
        c = self.down3(b)
        up = lambda x, like: F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        b = self.up2(torch.cat([up(c, b), b], 1))
        a = self.up1(torch.cat([up(b, a), a], 1))
        return 2 * torch.tanh(self.out(a).float()) * self.fade


class PatchRefiner(PatchUNet):
    """A refiner of one region (the eyes, the mouth): it sees the rendered patch, the shot's
    patch and maps drawn from the landmarks, and its change is pasted back into the image.
    A subclass says where its patches lie (:meth:`frames`) and what it draws (:meth:`maps`)."""

    SHAPE: PatchShape
    MAPS: int  # maps of the target's, then the shot's first map
    BALANCED = False  # what a new refiner does (see :meth:`forward`); a checkpoint says what its weights learned
    CHANGE_SMOOTHING = 0.0  # of the previous frame's change kept in a video (:meth:`over_time`); 0: each frame alone

    def __init__(self, width: int = 16):
        super().__init__(6 + self.MAPS + 1, self.SHAPE, width)
        # 1: see colours white-balanced by the shot's patch (:meth:`forward`); saved with the weights
        self.register_buffer("balanced", torch.tensor(float(self.BALANCED)))
        self.change_smoothing = self.CHANGE_SMOOTHING  # over a video's frames (:meth:`over_time`)
        self._change_before = None  # the last frame's change (P, 3, H, W) in patch coordinates

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights saved before the switch existed learned unbalanced colours
        if prefix + "balanced" not in state_dict and any(key.startswith(prefix) for key in state_dict):
            state_dict[prefix + "balanced"] = torch.tensor(0.0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The change (B, 3, H, W) for ``inputs`` (rendered patch, shot's patch, maps). When
        ``balanced``, the network sees both images white-balanced by the shot's patch — each
        channel scaled so its mean is mid-grey (von Kries adaptation) — and its change is scaled
        back: trained on SynthHeads' skin, it then meets a varnished painting's yellow or a cold
        photo's blue as the colours it knows, and paints in the portrait's own palette."""
        if not float(self.balanced):
            return super().forward(inputs)
        gain = balance_gains(inputs[:, 3:6])
        seen = torch.cat([(inputs[:, :6].float() + 1) * gain.repeat(1, 2, 1, 1) - 1, inputs[:, 6:].float()], 1)
        return super().forward(seen.to(inputs.dtype)) / gain

    def frames(self, points: np.ndarray) -> np.ndarray:
        """(T, P, 3, 2): the P patch frames of each frame's landmarks (T, 68, 2)."""
        raise NotImplementedError

    def maps(self, points: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """(T·P, MAPS, H, W) float32 in [0, 1]: what the landmarks say, drawn in each patch."""
        raise NotImplementedError

    def patches(self, image: torch.Tensor, shot: torch.Tensor, shot_points: np.ndarray,
                target_points: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The inputs (B·P, 6 + MAPS + 1, H, W) for ``image`` (B, 3, S, S) rendered for
        ``target_points`` (B, 68, 2) from ``shot`` (B, 3, S, S) with ``shot_points`` (B, 68, 2),
        all in [-1, 1] / pixels at S: the rendered patch, the shot's, the target's maps and the
        shot's first; and the target's frames (B, P, 3, 2)."""
        targets, shots = self.frames(target_points), self.frames(shot_points)
        dev = image.device
        target_maps = torch.from_numpy(self.maps(target_points, targets)).to(dev)
        shot_maps = torch.from_numpy(self.maps(shot_points, shots))[:, :1].to(dev)
        return torch.cat([sample_patches(image, targets, self.SHAPE), sample_patches(shot, shots, self.SHAPE),
                          target_maps * 2 - 1, shot_maps * 2 - 1], 1), targets

    def needed(self, shot_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
        """(B, P) in [0, 1]: how much of each patch's change :meth:`refine` keeps — here all of
        it; a subclass keeps it only where its region differs from the shot's (an eye closing,
        a mouth opening), so the refiner leaves alone what the warp of the shot already shows."""
        return np.ones(self.frames(np.asarray(target_points, np.float64).reshape(-1, 68, 2)).shape[:2], np.float32)

    def refine(self, image: torch.Tensor, shot: torch.Tensor, shot_points: np.ndarray,
               target_points: np.ndarray) -> torch.Tensor:
        """``image`` (B, 3, S, S) in [-1, 1] refined: each patch's change, times :meth:`needed`,
        pasted back through its frame (zero outside the patch) and added."""
        inputs, frames = self.patches(image, shot, shot_points, target_points)
        change = self.over_time(self(inputs.to(next(self.parameters()).dtype)), len(image)) * self.where(inputs)
        keep = torch.from_numpy(np.asarray(self.needed(shot_points, target_points), np.float32))
        return paste(image, change * keep.reshape(-1, 1, 1, 1).to(change.device), frames, self.SHAPE)

    def over_time(self, change: torch.Tensor, frames: int) -> torch.Tensor:
        """The change (B·P, 3, H, W) of ``frames`` consecutive video frames as an exponential moving
        average, ``change_smoothing`` of the previous frame's kept (0: as it is). The patches are
        lined up by the landmarks, so the average follows the region as it moves and only what the
        network trembles on from frame to frame is smoothed; continued from the last call's until
        :meth:`reset_motion`."""
        keep = self.change_smoothing
        if keep <= 0:
            return change
        smoothed, self._change_before = moving_average(change.unflatten(0, (frames, -1)), self._change_before, keep)
        return smoothed.flatten(0, 1)

    def reset_motion(self) -> None:
        """Start a new video: the next frame's change is not averaged with the last one's."""
        self._change_before = None

    def where(self, inputs: torch.Tensor) -> torch.Tensor | float:
        """Where in each patch :meth:`refine` keeps the change, (B·P, 1, H, W) in [0, 1] from the
        patch inputs, or 1: everywhere the network's fade allows."""
        return 1.0
