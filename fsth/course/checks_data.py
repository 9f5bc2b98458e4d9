"""Checks for notebooks 00–02: images as tensors, landmark images, K + 1 episodes."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .compare import (check, _call, _describe, _matches,
                      _numpy, _Raised, _report, _require_callable, _run_cases, _attempt)


@check("to_tensor")
def check_to_tensor(fn: Callable) -> bool:
    """``fn(images)``: uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1] (fsth.train.episodes.to_tensor)."""
    from ..io.tensors import to_tensor

    _require_callable("to_tensor", fn)
    rng = np.random.default_rng(0)
    cases = [("one image (5, 7, 3)", (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),)),
             ("a batch (2, 4, 6, 3)", (rng.integers(0, 256, (2, 4, 6, 3), dtype=np.uint8),)),
             ("black and white (2, 2, 3)", (np.array([[[0] * 3, [255] * 3]] * 2, np.uint8),))]

    def mistakes(images):
        x = torch.from_numpy(images).float()
        return [("scale to [-1, 1]: x / 127.5 − 1 (x / 255 gives [0, 1])", lambda: (x / 255).movedim(-1, -3)),
                ("channels move from last to third-from-last: movedim(-1, -3) keeps H before W "
                 "(transpose(-1, -3) swaps H and W)", lambda: (x / 127.5 - 1).transpose(-1, -3)),
                ("the colour axis has to move: (..., H, W, 3) -> (..., 3, H, W)", lambda: x / 127.5 - 1)]

    return _run_cases("to_tensor", "fsth.train.episodes.to_tensor", cases, lambda im: _call(fn, im.copy()),
                      to_tensor, mistakes, atol=1e-6, rtol=1e-6, own=(to_tensor,))


# ----------------------------------------------------------------------------------------
# 01: landmark images
# ----------------------------------------------------------------------------------------

def _face_points(size: int, index: int = 0) -> np.ndarray:
    from ..data.synthetic import Pose, random_identity, render_frame

    who = random_identity(np.random.default_rng([7, index]))
    pose = Pose(yaw=[0, 18, -12][index % 3], roll=[0, 6, -4][index % 3], jaw=[0.2, 0.8, 0.0][index % 3])
    return render_frame(who, pose, 64)[1] * (size / 64) + 0.5 * (size / 64 - 1)


def _part_masks(points: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Where fsth draws each part alone (strong pixels), and each closed part's closing segment."""
    import cv2

    from ..landmarks.draw import line_width
    from ..landmarks.parts import PARTS

    thickness = line_width(size)
    fixed = np.round(np.asarray(points, np.float64) * 16).astype(np.int32)
    masks = {}
    for name, (start, stop, closed) in PARTS.items():
        canvas = np.zeros((size, size), np.uint8)
        cv2.polylines(canvas, [fixed[start:stop]], closed, 255, thickness=thickness, lineType=cv2.LINE_AA, shift=4)
        masks[name] = canvas >= 160
        if closed:
            seg = np.zeros((size, size), np.uint8)
            cv2.line(seg, tuple(fixed[stop - 1]), tuple(fixed[start]), 255, thickness, cv2.LINE_AA, 4)
            masks[name + "/closing"] = seg >= 160
    return masks


def _landmark_image_problems(mine: np.ndarray, points: np.ndarray, size: int) -> list[str]:
    """Per-part diagnosis: missing parts, wrong colours, parts not closed."""
    from ..landmarks.parts import PART_COLORS

    masks = _part_masks(points, size)
    # pixels that belong to exactly one part, so overlaps don't confuse the colour test
    owners = sum(m.astype(int) for k, m in masks.items() if "/" not in k)
    problems = []
    img = mine.astype(np.int32)
    for name, colour in PART_COLORS.items():
        own = masks[name] & (owners == 1)
        if own.sum() < 3:
            continue
        pixels = img[own]
        lit = pixels.max(axis=1) > 60
        right = (np.abs(pixels - np.array(colour)).max(axis=1) <= 90)
        if lit.mean() < 0.5:
            problems.append(f"{name}: missing (only {lit.mean():.0%} of its pixels are drawn)")
        elif right.mean() < 0.5:
            found = tuple(int(v) for v in np.median(pixels[lit], axis=0))
            problems.append(f"{name}: colour {found}, expected {colour} (PART_COLORS[{name!r}])")
        closing = masks.get(name + "/closing")
        if closing is not None:
            core = closing & (owners == 1) & ~_near_points(points, name, size)
            if core.sum() >= 3 and (img[core].max(axis=1) > 60).mean() < 0.3:
                problems.append(f"{name}: not closed — join its last point to its first")
    return problems


def _near_points(points: np.ndarray, part: str, size: int) -> np.ndarray:
    """Pixels close to the part's points (where open and closed drawings agree anyway)."""
    from ..landmarks.draw import line_width
    from ..landmarks.parts import PARTS

    start, stop, _ = PARTS[part]
    yy, xx = np.mgrid[:size, :size]
    near = np.zeros((size, size), bool)
    radius = 2.0 * line_width(size)
    for x, y in points[start:stop]:
        near |= (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
    return near


@check("landmark_image")
def check_landmark_image(fn: Callable) -> bool:
    """``fn(points (68, 2), size) -> uint8 (size, size, 3)``: the landmark image of
    :func:`fsth.landmarks.draw_landmarks` — one colour per part, closed eyes and lips."""
    from ..landmarks.draw import draw_landmarks

    _require_callable("landmark_image", fn)
    cases = [(f"{size} px, face {i}", (_face_points(size, i), size)) for i, size in ((0, 64), (1, 256), (2, 128))]
    name = "landmark_image"
    loose = False
    for i, (label, (points, size)) in enumerate(cases):
        reference = draw_landmarks(points, size)
        failed, mine = _attempt(name, f"case {i + 1} of {len(cases)} ({label})", fn, points.copy(), size,
                                own=draw_landmarks, target="fsth.landmarks.draw_landmarks")
        if failed is not None:
            return failed
        where = f"case {i + 1} of {len(cases)} ({label})"
        if mine is None:
            return _report(name, False, f"{where}: got None — did you forget to return the image?")
        mine = _numpy(mine)
        if mine.shape != reference.shape:
            hint = "height and width are the image size; 3 colour channels last" if mine.ndim == 3 else None
            return _report(name, False, f"{where}: shape {mine.shape}, expected {reference.shape}", hint=hint)
        if mine.dtype != np.uint8:
            return _report(name, False, f"{where}: dtype {mine.dtype}, expected uint8 (0-255)",
                           hint="start from np.zeros((size, size, 3), np.uint8)")
        if np.array_equal(mine, reference):
            continue
        diff = np.abs(mine.astype(np.int32) - reference.astype(np.int32))
        on_mine, on_ref = mine.max(axis=2) >= 128, reference.max(axis=2) >= 128
        iou = (on_mine & on_ref).sum() / max(1, (on_mine | on_ref).sum())
        problems = _landmark_image_problems(mine, points, size)
        if not problems and iou >= 0.7 and diff.mean() <= 4:
            loose = True  # drawn right, pixels differ a little (anti-aliasing, rounding)
            continue
        hint = None
        if _matches(mine, draw_landmarks(points, size)[..., ::-1], atol=1, rtol=0):
            hint = "colours are RGB; you drew BGR (OpenCV's habit): reverse the colour or the channels"
        elif _matches(mine, draw_landmarks(points[:, ::-1], size), atol=1, rtol=0):
            hint = "points are (x, y): x is the column, y the row — you swapped them"
        else:
            from ..landmarks.parts import PART_COLORS

            lit = mine[mine.max(axis=2) > 0].reshape(-1, 3)
            pure = {tuple(int(v) for v in c) for c in np.unique(lit, axis=0)} <= set(PART_COLORS.values())
            drawn = on_mine.sum() / max(1, on_ref.sum())
            if drawn > 1.5:
                hint = f"lines too thick ({drawn:.1f}× fsth's ink): width max(1, round(size / 128)) px"
            elif drawn < 0.6:
                hint = "far less ink than fsth's: draw each part as one connected polyline, not dots"
            elif pure and len(lit):
                hint = "no anti-aliasing: draw with lineType=cv2.LINE_AA (and shift=4 for sub-pixel points)"
            elif iou < 0.7:
                hint = "lines in the wrong place: polylines through the points of each part, x then y"
        details = problems + [f"lit pixels overlap fsth's by {iou:.0%} (IoU); mean |difference| {diff.mean():.1f}/255"]
        return _report(name, False, f"{where}: differs from fsth.landmarks.draw_landmarks", details, hint)
    kind = "close (anti-aliasing differs slightly)" if loose else "exact"
    return _report(name, True, f"matches fsth.landmarks.draw_landmarks — {kind} on {len(cases)} case(s)")


# ----------------------------------------------------------------------------------------
# 02: K + 1 episodes
# ----------------------------------------------------------------------------------------

@check("episode")
def check_episode(fn: Callable) -> bool:
    """``fn(num_frames, k, seed) -> (shots, target)``: K distinct frame indices for the
    embedder and one held-out target that is never one of them, drawn from ``seed``."""
    _require_callable("episode", fn)
    name = "episode"
    spread = None
    for num_frames, k in ((9, 4), (32, 8), (5, 4), (2, 1)):
        targets = []
        for seed in range(150 if num_frames == 9 else 40):
            where = f"num_frames={num_frames}, k={k}, seed={seed}"
            try:
                result = _call(fn, num_frames, k, seed)
                again = _call(fn, num_frames, k, seed)
            except _Raised as err:
                return _report(name, False, f"{where}: {err}")
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                return _report(name, False, f"{where}: return (shots, target), got {type(result).__name__}")
            shots, target = (np.asarray(v) for v in result)
            if shots.shape != (k,) or not np.issubdtype(shots.dtype, np.integer):
                return _report(name, False, f"{where}: shots should be {k} integer indices, got {_describe(shots)}")
            if target.shape not in ((), (1,)) or not np.issubdtype(target.dtype, np.integer):
                return _report(name, False, f"{where}: target should be one integer index, got {_describe(target)}")
            target = int(target.reshape(-1)[0])
            everything = [*shots.tolist(), target]
            if min(everything) < 0 or max(everything) >= num_frames:
                return _report(name, False, f"{where}: index out of range 0..{num_frames - 1}: {everything}")
            if len(set(shots.tolist())) < k:
                return _report(name, False, f"{where}: repeated shots {sorted(shots.tolist())}",
                               hint="draw without replacement: rng.choice(n, K + 1, replace=False)")
            if target in shots.tolist():
                return _report(name, False, f"{where}: the target {target} is also one of the shots {shots.tolist()}",
                               hint="the target must be held out — the generator would just copy it (a "
                                    "classic pitfall); draw K + 1 distinct frames at once and keep the last")
            try:
                again_shots, again_target = (np.asarray(v).reshape(-1).tolist() for v in again)
            except (TypeError, ValueError):
                again_shots, again_target = None, None
            if again_shots != shots.tolist() or again_target != [target]:
                return _report(name, False, f"{where}: two calls with the same seed gave different episodes",
                               hint="draw from np.random.default_rng(seed) so an episode can be replayed")
            targets.append(target)
        if num_frames == 9:
            spread = np.bincount(targets, minlength=num_frames)
    if spread.min() == 0 or spread.max() > 4 * spread.mean():
        return _report(name, False, f"with 9 frames the targets over 150 seeds are spread {spread.tolist()}",
                       hint="every frame should get its turn as the target: sample it, don't fix it")
    return _report(name, True, "K distinct shots, a held-out target, reproducible and well spread "
                               "(4 settings, 270 episodes)")
