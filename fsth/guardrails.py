"""Guard-rails for a warp, read from the 68 points: lids that close, a mouth that opens, a
background that stays.

A landmark warp (``fsth.warp``) moves the portrait's own pixels, so it keeps the person but
cannot show what the portrait hides. Three geometric rules fix the worst of it without any
learning; the guided generator (``fsth.nn.warp_generator.GuidedWarpGenerator``) starts from
them and learns to refine them:

- **eyelids**: where the target's eye is more closed than the shot's, the portrait's own eye
  is covered by its bare lid, filled in from the skin around it, with a lash line along the
  lid's edge (``fsth.eyelids``: what :class:`GuidedWarp` renders). The guided generator was
  trained on the older rule, :func:`close_eyelids` (the shot's upper-lid skin slid down over
  the iris), which its grids keep;
- **background**: outside the target's head (face hull, forehead and hair, feathered) the warp
  is held at the identity, so curtains and walls stay put while the head moves (LivePortrait's
  stitching does the same with a learned module);
- **mouth cavity**: inside the target's inner lips, once they open wider than the shot's, a
  painted cavity — a dark mouth, a row of upper and lower teeth — for the synthesis path to
  show and refine (``mouth_cavity``), drawn at any resolution.

All positions are in pixels of S-px square crops, (x, y), as ``fsth.warp.source_positions``.
"""
from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np
import torch

from .landmarks.regions import EYES, INNER_LIPS, eye_gaps, fill_polygon, interocular, mouth_opening
from .eyelids import closing_eyes, lash_colour, opened_eyes, shut_eyes
from .warp import WarpedPortrait, source_positions, upsampled_positions, warp_frames

CAVITY_RGB = np.array([0.16, 0.05, 0.06], np.float32)  # the inside of a mouth, in [0, 1]
UPPER_TEETH_RGB = np.array([0.78, 0.74, 0.68], np.float32)
LOWER_TEETH_RGB = np.array([0.62, 0.57, 0.52], np.float32)
MOUTH_OPENS = 0.06  # the cavity is fully shown once the lips part this much more than the shot's (× eye corners)
_SHIFT = 4  # sub-pixel bits for OpenCV
INNER_FACE_GROW, INNER_FACE_FEATHER = 0.1, 0.25  # inner_face_mask's margin, in eye-corner distances


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _pixels(size: int) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size]
    return np.stack([xs, ys], -1).astype(np.float64)  # (S, S, 2)


LID_COVER = 0.25  # how far past the lower lid's landmarks a shut lid comes down, in lid gaps


def close_eyelids(positions: np.ndarray, shot_points: np.ndarray, target_points: np.ndarray,
                  lid_skin: float = 0.8, cover: float | None = None) -> np.ndarray:
    """positions (S, S, 2) of a warp from the shot to the target, changed so that an eye more
    closed in the target than in the shot (closure c = 1 − target gap / shot gap) is covered by
    the shot's own upper lid sliding down, as a real lid does.

    In the shot's eye frame (v: height above the lower lid along the lid-to-lid direction, the
    local lid gap g(u) shrinking to 0 at the corners), the lid's edge moves from g down to
    l = g·(1 − c): positions that land in [l, g + h] sample the lid skin band [g, g + h] above
    the shot's upper lid, stretched down (h = ``lid_skin`` × the shot's gap), so the lashes
    follow the lid's edge; below l the eye still shows, above g + h nothing moves. A lid that
    shuts comes down ``cover`` (default :data:`LID_COVER`) of a gap further, over the lower
    lid's line, so one lash line is left."""
    shot, target = np.asarray(shot_points, np.float64), np.asarray(target_points, np.float64)
    shot_gaps, target_gaps = eye_gaps(shot)[0], eye_gaps(target)[0]
    out = np.array(positions, np.float64)
    for side, eye in enumerate(EYES):
        closure = float(np.clip(1 - target_gaps[side] / max(shot_gaps[side], 1e-6), 0, 1))
        if closure <= 0:
            continue
        upper, lower = shot[eye[[1, 2]]].mean(0), shot[eye[[5, 4]]].mean(0)
        up = upper - lower
        up /= max(np.linalg.norm(up), 1e-6)  # towards the brow, in the shot
        axis = shot[eye[3]] - shot[eye[0]]
        half_width = max(0.5 * np.linalg.norm(axis), 1e-6)
        axis /= 2 * half_width
        u = (out - shot[eye].mean(0)) @ axis / half_width
        v = (out - lower) @ up
        gap = shot_gaps[side] * np.sqrt(np.clip(1 - u ** 2, 0, 1))
        cover_ = LID_COVER if cover is None else cover
        edge, top = gap * (1 - closure) - cover_ * closure * gap, gap + lid_skin * shot_gaps[side]
        covered = (v >= edge) & (v <= top) & (gap > 0)
        lifted = top - (top - v) * (lid_skin * shot_gaps[side]) / np.maximum(top - edge, 1e-6)
        out += np.where(covered, lifted - v, 0.0)[..., None] * up
    return out


def _feathered_hull(corners: np.ndarray, points: np.ndarray, size: int, grow: float, feather: float) -> np.ndarray:
    """(S, S) float in [0, 1]: 1 inside the convex hull of ``corners`` (N, 2), falling to 0 over
    ``feather`` beyond ``grow`` outside it, both in eye-corner distances of the face ``points``."""
    scale = float(interocular(points)[0])
    hull = cv2.convexHull(np.asarray(corners, np.float32))
    inside = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(inside, np.round(hull[:, 0] * (1 << _SHIFT)).astype(np.int32), 1, cv2.LINE_8, _SHIFT)
    outside_distance = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    return _smoothstep(1 - (outside_distance - grow * scale) / max(feather * scale, 1e-6))


def head_mask(target_points: np.ndarray, size: int) -> np.ndarray:
    """(S, S) float in [0, 1]: the target's head — jaw and brows, the forehead and hair above
    them (the brows raised by 0.8 of the brow-to-chin height), grown and feathered by a fraction
    of the eye-corner distance. 1 where the warp may move pixels, 0 where they stay."""
    p = np.asarray(target_points, np.float64)
    brows = p[17:27]
    lift = (p[8] - brows.mean(0)) * -0.8  # from the chin through the brows, upwards
    return _feathered_hull(np.concatenate([p[:27], brows + lift]), p, size, grow=0.4, feather=0.8)


def inner_face_mask(target_points: np.ndarray, size: int, grow: float = INNER_FACE_GROW,
                    feather: float = INNER_FACE_FEATHER) -> np.ndarray:
    """(S, S) float in [0, 1]: the target's inner face — the hull of brows, eyes, nose and lips
    (points 17-67) — 1 inside, falling to 0 over ``feather`` beyond ``grow`` (both in eye-corner
    distances) outside it. Where identity lives: the cheeks, jaw and hair around it are where a
    turn reveals what the shot doesn't show."""
    p = np.asarray(target_points, np.float64)
    return _feathered_hull(p[17:68], p, size, grow, feather)


def hold_background(positions: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """positions (S, S, 2) blended to the identity (each pixel samples its own place) outside the
    target's head (:func:`head_mask`), so the background doesn't bend with the head."""
    size = positions.shape[0]
    mask = head_mask(target_points, size)[..., None]
    return mask * positions + (1 - mask) * _pixels(size)


def guided_positions(shot_points: np.ndarray, target_points: np.ndarray, size: int,
                     lids: bool = True) -> np.ndarray:
    """The landmark warp from a shot to a target with the eyelid (``lids``) and background
    rules: (S, S, 2)."""
    positions = source_positions(shot_points, target_points, size)
    if lids:
        positions = close_eyelids(positions, shot_points, target_points)
    return hold_background(positions, target_points)


def held_positions(shot_points: np.ndarray, target_points: np.ndarray, size: int) -> np.ndarray:
    """The landmark warp with the background held still, lids left to :func:`closing_eyes`."""
    return guided_positions(shot_points, target_points, size, lids=False)


def guided_grids(source_points: np.ndarray, target_points: np.ndarray, size: int) -> torch.Tensor:
    """As ``fsth.warp.sampling_grids`` (targets (T, 68, 2), shots (K, 68, 2) → (T, K, S, S, 2)
    in grid_sample's coordinates), with the guard-rails of :func:`guided_positions`."""
    sources = np.asarray(source_points, np.float64).reshape(-1, 68, 2)
    targets = np.asarray(target_points, np.float64).reshape(-1, 68, 2)
    positions = np.stack([np.stack([guided_positions(s, t, size) for s in sources]) for t in targets])
    return torch.from_numpy((2 * positions + 1) / size - 1).float()


def mouth_opens(shot_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """(T,) in [0, 1]: how much wider each target's inner lips part than the shot's, on a ramp to
    1 at :data:`MOUTH_OPENS` more (× eye corners). shot_points: one shot (68, 2) or one per target."""
    return np.clip((mouth_opening(target_points) - mouth_opening(shot_points)) / MOUTH_OPENS, 0, 1)


def mouth_cavity(shot_points: np.ndarray, target_points: np.ndarray, size: int) -> np.ndarray:
    """(T, 4, S, S) float32: a painted mouth interior for each target (T, 68, 2) — RGB in [0, 1]
    (a dark cavity, the upper teeth under the upper lip, a thinner row of lower teeth) and its
    alpha: the inside of the inner lips, times how much wider they part than the (first)
    shot's (1 from :data:`MOUTH_OPENS` more). Points in pixels of S-px crops."""
    targets = np.asarray(target_points, np.float64).reshape(-1, 68, 2)
    shot = np.asarray(shot_points, np.float64).reshape(-1, 68, 2)[:1]
    opens = mouth_opens(shot, targets)
    out = np.zeros((len(targets), 4, size, size), np.float32)
    fine = max(1, -(-256 // size))  # drawn at ≥ 256 px and averaged down: thin rows of teeth stay thin
    for t, p in enumerate(targets):
        if opens[t] <= 0:
            continue
        p = (p + 0.5) * fine - 0.5
        inside = np.zeros((size * fine,) * 2, np.float32)
        fill_polygon(inside, p[INNER_LIPS], 1.0)
        gap = np.linalg.norm(p[[61, 62, 63]] - p[[67, 66, 65]], axis=-1).mean()
        scale = float(interocular(p)[0])
        upper_lip, lower_lip = p[[60, 61, 62, 63, 64]], p[[64, 65, 66, 67, 60]]
        teeth = np.zeros((2, size * fine, size * fine), np.float32)
        for row, (lip, depth) in enumerate([(upper_lip, min(0.25 * gap, 0.07 * scale)),
                                            (lower_lip, -min(0.12 * gap, 0.035 * scale))]):
            fill_polygon(teeth[row], np.concatenate([lip, lip[::-1] + [0, depth]]), 1.0)
        upper, lower = teeth[0] * inside, teeth[1] * inside * (1 - teeth[0])
        cavity = 1 - upper - lower
        rgb = (cavity[..., None] * CAVITY_RGB + upper[..., None] * UPPER_TEETH_RGB
               + lower[..., None] * LOWER_TEETH_RGB)
        down = (lambda a: cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)) if fine > 1 else (lambda a: a)
        alpha = down(inside)
        out[t, :3] = (down(rgb * inside[..., None]) / np.maximum(alpha, 1e-6)[..., None]).transpose(2, 0, 1)
        out[t, 3] = cv2.GaussianBlur(alpha, (0, 0), max(size / 256, 0.5)) * opens[t]
    return out


MOUTH_POINTS = slice(48, 68)
# in a video the painted cavity is held still (hold_mouth, steady_paint; the guided generator and GuidedWarp): its
# dark paint against the lips showed the driver's sub-pixel landmark tremble, and on real portraits driven
# by single_face the mouth changed twice as much from frame to frame as the driver's own (the warp's lips,
# of low contrast, hardly at all). The mouth's points are held within CAVITY_HOLD of the eye corners'
# distance; then the paint, pixel by pixel, changes only beyond CAVITY_PAINT_HOLD and is averaged with the
# last frame's, CAVITY_SMOOTHING of it kept. Chosen on the dev portraits driven by single_face (stop 39):
# flicker Mona Lisa 1.020 -> 0.977, Grace Hopper 1.461 -> 1.416, astronaut 0.904 -> 0.884 (the warp's
# 0.997, 1.439, 0.887); mouth span 0.84 -> 0.76, 0.72 -> 0.70, 0.60 -> 0.61. A wider paint band (0.1)
# cut flicker as much but lagged the opening (spans 0.76, 0.64, 0.56)
CAVITY_HOLD = 0.02
CAVITY_PAINT_HOLD = 0.05
CAVITY_SMOOTHING = 0.5


def hold_mouth(points: np.ndarray, before: np.ndarray | None, band: float) -> tuple[np.ndarray, np.ndarray]:
    """The mouth's 20 points (48–67) of consecutive video frames ``points`` (T, 68, 2) held in a
    dead band: each moves only by what it has moved beyond ``band`` × the eye corners' distance
    since its last held place (the rest of the face as it is). The painted cavity is dark against
    the lips, so a sub-pixel tremble of the driver's landmarks shows at its edge far more than at
    the warp's lips. ``before``: the last held frame (68, 2) of the previous call, or None.
    Returns the held points (T, 68, 2) and the last frame, to continue from."""
    out = np.array(points, np.float64).reshape(-1, 68, 2)
    if band <= 0 or not len(out):
        return out, (out[-1].copy() if len(out) else before)
    scales = interocular(out)
    for t in range(len(out)):
        if before is not None:
            change = out[t, MOUTH_POINTS] - before[MOUTH_POINTS]
            length = np.linalg.norm(change, axis=-1, keepdims=True)
            past = np.clip(length - band * scales[t], 0, None) / np.maximum(length, 1e-9)
            out[t, MOUTH_POINTS] = before[MOUTH_POINTS] + change * past
        before = out[t].copy()
    return out, before


def steady_paint(cavity: torch.Tensor, before: torch.Tensor | None, band: float, keep: float
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The painted cavities (T, 4, S, S) of consecutive video frames held in time, pixel by pixel:
    the paint (colour times alpha, and alpha) changes only by what it changes beyond ``band``
    (in [0, 1]) since the last frame, then is averaged with it, ``keep`` of the last kept.
    ``before``: the last frame of the previous call (premultiplied), or None. Small changes (a
    tremble of the teeth's edges) are held; large ones (a mouth that opens, a head that moves)
    pass, less the band. Returns the cavities and the last frame, to continue from."""
    if band <= 0 and keep <= 0:
        return cavity, before
    from .nn.temporal import moving_average

    alpha = cavity[:, 3:]
    premultiplied = torch.cat([cavity[:, :3] * alpha, alpha], 1)
    held, before = moving_average(premultiplied, before, keep, band=band,
                                  size=lambda change: change.abs().amax(0, keepdim=True))  # a pixel's largest change
    alpha = held[:, 3:]
    return torch.cat([held[:, :3] / alpha.clamp(min=1e-6), alpha], 1), before


def tint(rgb: torch.Tensor, skin: torch.Tensor) -> torch.Tensor:
    """The painted cavity (B, 3, S, S) in [0, 1] in the light of a portrait whose skin is
    ``skin`` (B, 3) in [0, 1]: teeth and shadow take its hue and brightness (a painting's teeth
    are as yellow as its varnish)."""
    hue = skin / skin.mean(1, keepdim=True).clamp_min(1e-3)
    light = (skin.mean(1, keepdim=True) / 0.55).clamp(0.5, 1.1)
    return (rgb * (0.65 + 0.35 * hue[..., None, None]) * light[..., None, None]).clamp(0, 1)


def skin_colour(shots: torch.Tensor) -> torch.Tensor:
    """(B, 3) in [0, 1]: the mean colour at the centre of the first shot (B, K, 3, S, S) in
    [-1, 1] — in a face crop, cheeks and nose."""
    size = shots.shape[-1]
    centre = shots[:, 0, :, 3 * size // 8:5 * size // 8, 3 * size // 8:5 * size // 8]
    return (centre.float().mean((-1, -2)) + 1) / 2


class GuidedWarp(WarpedPortrait):
    """The guard-rails alone, no learning (a :class:`fsth.render.Renderer`): the first shot
    warped with the background held (:func:`held_positions`), eyes that close under their own
    lids (:func:`closing_eyes`) and the painted, tinted cavity where the mouth opens. What the
    guided generator must beat to earn its learning.

    shots: uint8 (K, S, S, 3) crops; landmarks: (K, 68, 2)."""

    @cached_property
    def lids(self) -> tuple[np.ndarray, np.ndarray]:
        """The first shot's bare lids (:func:`shut_eyes`) and lash colour, made once per portrait."""
        return shut_eyes(self.shots[0], self.landmarks[0]), lash_colour(self.shots[0], self.landmarks[0])

    cavity_hold, cavity_paint_hold, cavity_smoothing = CAVITY_HOLD, CAVITY_PAINT_HOLD, CAVITY_SMOOTHING
    _mouth_before = _paint_before = None  # the last frame's held mouth points and paint (a video's state)

    def render(self, landmarks: np.ndarray, batch: int = 32, continues: bool = False, video: bool = True) -> np.ndarray:
        """Frames for landmarks (T, 68, 2): uint8 (T, S, S, 3). ``video``: consecutive frames of one
        video, so the painted cavity is held still from frame to frame (:func:`hold_mouth`,
        :func:`steady_paint`); False for independent pictures. ``continues``: they follow the last
        call's frames (a video rendered in chunks, or a live stream frame by frame)."""
        targets = np.asarray(landmarks, np.float64).reshape(-1, 68, 2)
        if not continues or not video:
            self._mouth_before = self._paint_before = None
        hold, paint_hold, keep = ((self.cavity_hold, self.cavity_paint_hold, self.cavity_smoothing) if video
                                  else (0.0, 0.0, 0.0))
        shot = torch.from_numpy(self.shots[0]).permute(2, 0, 1).float() / 127.5 - 1
        skin = skin_colour(shot[None, None])
        out = []
        for start in range(0, len(targets), batch):
            chunk = targets[start:start + batch]
            positions = np.stack([upsampled_positions(held_positions, self.landmarks[0], t, self.size,
                                                      self.map_size)
                                  for t in opened_eyes(self.landmarks[0], chunk)])
            warped = warp_frames(shot, positions)
            eyes = torch.from_numpy(closing_eyes(self.shots[0], *self.lids, self.landmarks[0], chunk))
            warped = warped + eyes[:, 3:] * (eyes[:, :3] * 2 - 1 - warped)
            mouths, self._mouth_before = hold_mouth(chunk, self._mouth_before, hold)
            cavity = torch.from_numpy(mouth_cavity(self.landmarks[0], mouths, self.size))
            cavity, self._paint_before = steady_paint(cavity, self._paint_before, paint_hold, keep)
            colour = tint(cavity[:, :3], skin.expand(len(chunk), 3)) * 2 - 1
            frames = warped + cavity[:, 3:] * (colour - warped)
            out.append(((frames + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
        return np.concatenate(out)

    def render_continued(self, landmarks: np.ndarray, **kwargs) -> np.ndarray:
        """``render`` for frames that follow the last call's in the same video (fsth.render)."""
        return self.render(landmarks, continues=True, **kwargs)

    def render_one(self, points: np.ndarray) -> np.ndarray:
        """The next frame (S, S, 3) of a stream (a live camera): it follows the last call's."""
        return self.render_continued(np.asarray(points, np.float64)[None])[0]
