"""Eyes that close under their own lids, for a warp of one shot (a guard-rail, ``fsth.guardrails``).

A landmark warp closes an eye by squashing it: the iris stays, a dark slot where a lid should
be, and the lid's triangles fold. A real lid comes down over an eyeball that stays where it is.
So, where the target's eye is more closed than the shot's:

- the warp is given the shot's eye as open as it was (:func:`opened_eyes`: nothing squashed);
- over it, the shot's own eye, moved with its corners, shows below the target's upper lid;
- above that lid, the bare lid: the shot with its eyes and lashes filled in from the skin
  around them (:func:`shut_eyes`, OpenCV's inpainting);
- along the lid's edge, a lash line in the colour of the shot's lashes (:func:`lash_colour`).

:func:`closing_eyes` draws that as an RGBA layer at any resolution. Points are pixels of S-px
crops, (x, y).
"""
from __future__ import annotations

import cv2
import numpy as np

from .landmarks.regions import EYES, eye_closure, eye_gaps, fill_polygon, interocular


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


LASH_GROW = 0.6  # the lashes above an open eye, in lid gaps: filled in with the eye
LASH_WIDTH = 0.07  # a shut eye's lash line at its thickest, × the eye's width


def _curve(corner_a: np.ndarray, a: np.ndarray, b: np.ndarray, corner_b: np.ndarray, n: int = 25) -> np.ndarray:
    """(n, 2): the cubic Bézier through four points of a lid (at t = 0, 1/3, 2/3, 1)."""
    pull_a = (-5 * corner_a + 18 * a - 9 * b + 2 * corner_b) / 6
    pull_b = (2 * corner_a - 9 * a + 18 * b - 5 * corner_b) / 6
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 3 * corner_a + 3 * (1 - t) ** 2 * t * pull_a + 3 * (1 - t) * t ** 2 * pull_b + t ** 3 * corner_b


def _opening(points: np.ndarray, eye: np.ndarray, grow: float = LASH_GROW, drop: float = 0.0) -> np.ndarray:
    """(50, 2): an eye's outline along its curved lids, the upper lid raised by ``grow`` lid
    gaps (so the lashes above it are inside), the lower lid lowered by ``drop`` pixels (away
    from the brows), the corners pushed out a little."""
    p = np.asarray(points, np.float64)
    corner_a, corner_b = p[eye[0]], p[eye[3]]
    out = 0.08 * (corner_b - corner_a)
    corner_a, corner_b = corner_a - out, corner_b + out
    raised = p[eye[[1, 2]]] + grow * (p[eye[[1, 2]]] - p[eye[[5, 4]]])
    down = np.array([-out[1], out[0]]) / max(np.linalg.norm(out), 1e-6)
    down = down if (p[eye[[5, 4]]] - p[eye[[1, 2]]]).sum(0) @ down >= 0 else -down
    upper = _curve(corner_a, raised[0], raised[1], corner_b)
    lower = _curve(corner_a, p[eye[5]] + drop * down, p[eye[4]] + drop * down, corner_b)
    return np.concatenate([upper, lower[::-1]])


def shut_eyes(shot: np.ndarray, points: np.ndarray) -> np.ndarray:
    """uint8 (S, S, 3): the shot with each eye and its lashes filled in from the skin around them
    (OpenCV's Telea inpainting) — the bare lid a shut eye shows, in the portrait's own skin."""
    p = np.asarray(points, np.float64)
    hole = np.zeros(shot.shape[:2], np.uint8)
    for eye in EYES:
        fill_polygon(hole, _opening(p, eye), 255)
    grow = 2 * int(round(0.03 * float(interocular(p)[0]))) + 1  # lashes' tips, antialiasing
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    radius = max(3, int(round(float(eye_gaps(p)[0].max()))))
    return cv2.inpaint(np.ascontiguousarray(shot), hole, radius, cv2.INPAINT_TELEA)


def lash_colour(shot: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(3,) in [0, 1]: the shot's lashes — the median of the darkest tenth (by luma) of a strip
    along each upper lid, where lashes grow (and where a pupil may peek: both are near black)."""
    p = np.asarray(points, np.float64)
    strip = np.zeros(shot.shape[:2], np.uint8)
    for eye in EYES:
        lid = _curve(*p[eye[:4]])
        gap = p[eye[[1, 2]]] - p[eye[[5, 4]]]
        up = gap.mean(0) / max(np.linalg.norm(gap.mean(0)), 1e-6) * max(np.linalg.norm(gap, axis=1).mean(), 1.0)
        fill_polygon(strip, np.concatenate([lid + 0.5 * up, (lid - 0.3 * up)[::-1]]), 1)
    pixels = (shot[strip > 0] if strip.any() else shot).reshape(-1, 3).astype(np.float32)
    luma = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.median(pixels[luma <= np.percentile(luma, 10)], axis=0) / 255


def closing_eyes(shot: np.ndarray, lidded: np.ndarray, lashes: np.ndarray, shot_points: np.ndarray,
                 target_points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(T, 4, S, S) float32, RGB in [0, 1] and alpha: each target's eyes where they are more
    closed than the shot's (closure c = 1 − target gap / shot gap, gaps over the eye-corner
    distance), drawn as a real lid closes: the shot's own eye, moved but not squashed (the
    similarity of its corners), covered above the target's upper lid by
    the bare lid of ``lidded`` (:func:`shut_eyes`), a lash line of ``lashes`` along the lid's
    edge. Alpha: the shot's eye and lashes where they land, and the target's own eye (where a
    plain warp squashes the iris) with ``margin`` pixels more below it (a map computed at a lower
    resolution smears the squashed eye that far), × min(1, c / 0.1); 0 for eyes as open as the
    shot's, so those keep the warp's pixels.

    shot, lidded: uint8 (S, S, 3); shot_points (68, 2); target_points (T, 68, 2)."""
    size = shot.shape[0]
    source = np.asarray(shot_points, np.float64)
    targets = np.asarray(target_points, np.float64).reshape(-1, 68, 2)
    closure = eye_closure(source, targets)
    out = np.zeros((len(targets), 4, size, size), np.float32)
    for t, p in enumerate(targets):
        rgb, alpha = np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32)
        for side, eye in enumerate(EYES):
            c = float(closure[t, side])
            if c <= 0:
                continue
            move = _eye_move(source, p, eye)
            gap = float(eye_gaps(source)[0, side]) * abs(move[0, 0] + 1j * move[1, 0])  # the shot's, here
            outline = cv2.transform(_opening(source, eye)[None], move)[0]  # the shot's eye and lashes, moved
            own = _opening(p, eye, grow=0.0, drop=0.3 * gap + margin)  # the warp's own (squashed) eye
            lash, lash_blur = _lash_polygon(p[eye], c)
            feather = max(0.25 * gap, 0.5)
            # everything happens in a box around the eye: a frame-sized canvas costs 20x more
            pad = 4 * max(feather, lash_blur) + 2
            corners = np.concatenate([outline, own, lash])
            x0, y0 = np.maximum(np.floor(corners.min(0) - pad), 0).astype(int)
            x1, y1 = np.minimum(np.ceil(corners.max(0) + pad), size).astype(int)
            if x1 <= x0 or y1 <= y0:
                continue
            box, corner = (x1 - x0, y1 - y0), np.array([x0, y0], np.float64)
            local = move - np.array([[0, 0, x0], [0, 0, y0]])
            moved = lambda image: cv2.warpAffine(image, local, box, flags=cv2.INTER_LINEAR,  # noqa: E731
                                                 borderMode=cv2.BORDER_REFLECT).astype(np.float32) / 255
            region = np.zeros(box[::-1], np.float32)
            fill_polygon(region, outline - corner, 1.0)
            fill_polygon(region, own - corner, 1.0)
            region = cv2.GaussianBlur(region, (0, 0), feather)  # no visible edge around the lid
            still_open = np.zeros(box[::-1], np.float32)  # below the target's upper lid
            fill_polygon(still_open, np.concatenate([_curve(*p[eye[:4]]), _curve(*p[eye[[0, 5, 4, 3]]])[::-1]]) - corner, 1.0)
            still_open *= 1 - float(_smoothstep(np.float64((c - 0.8) / 0.2)))  # a shut eye shows no sliver
            layer = still_open[..., None] * moved(shot) + (1 - still_open[..., None]) * moved(lidded)
            line = np.zeros(box[::-1], np.float32)
            fill_polygon(line, lash - corner, 1.0)
            line = cv2.GaussianBlur(line, (0, 0), lash_blur) * 0.9 * float(_smoothstep(np.float64(c / 0.5)))
            layer = layer + line[..., None] * (lashes - layer)
            weight = np.maximum(region, line) * min(1.0, c / 0.1)
            rgb[y0:y1, x0:x1] += weight[..., None] * layer  # the eyes don't overlap: premultiplied, summed
            alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], weight)
        out[t, :3], out[t, 3] = (rgb / np.maximum(alpha, 1e-6)[..., None]).transpose(2, 0, 1), alpha
    return out


def opened_eyes(shot_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """(T, 68, 2): the targets with each eye as open as the shot's (the shot's lids moved with
    its corners onto the target's), for a warp that leaves closing to :func:`closing_eyes`
    instead of squashing the eye (a squashed eye keeps its iris, and the lid's triangles fold)."""
    source = np.asarray(shot_points, np.float64)
    targets = np.array(target_points, np.float64).reshape(-1, 68, 2)
    for p in targets:
        for eye in EYES:
            lids = eye[[1, 2, 4, 5]]
            p[lids] = cv2.transform(source[lids][None], _eye_move(source, p, eye))[0]
    return targets


def _eye_move(source: np.ndarray, target: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """(2, 3): the similarity taking the source eye's corners onto the target's — where the
    eyeball goes; the lids open and close around it."""
    a, b = source[eye[[0, 3]]] @ [1, 1j]
    c, d = target[eye[[0, 3]]] @ [1, 1j]
    z = (d - c) / (b - a) if abs(b - a) > 1e-6 else 1.0
    shift = c - z * a
    return np.array([[z.real, -z.imag, shift.real], [z.imag, z.real, shift.imag]])


def _lash_polygon(eye_points: np.ndarray, closure: float) -> tuple[np.ndarray, float]:
    """A lash line hanging from an upper lid (an eye's six points: corners and its two upper
    points used), thickest in the middle, as thick as the lid is closed: its outline (50, 2) in
    pixels and the blur (σ, pixels) that softens it."""
    corner_a, corner_b = eye_points[0], eye_points[3]
    edge = _curve(*eye_points[[0, 1, 2, 3]])
    t = np.linspace(0, 1, len(edge))[:, None]
    width = np.linalg.norm(corner_b - corner_a)
    down = np.array([-(corner_b - corner_a)[1], (corner_b - corner_a)[0]]) / max(width, 1e-6)
    down = down if down[1] > 0 else -down  # towards the cheek
    thickness = LASH_WIDTH * width * closure * np.sqrt(np.sin(np.pi * t))
    return np.concatenate([edge - 0.3 * thickness * down, (edge + thickness * down)[::-1]]), max(0.02 * width, 0.5)
