"""Self-checking exercises for the course (``notebooks/``): your implementation against fsth's.

    from fsth.exercises import check_adain
    check_adain(my_adain)
    # ✓ adain: matches fsth.nn.AdaIN — approximate (max difference 4.8e-07 ≤ 1e-04) on 3 cases
    # ✗ adain: case 1 of 3 (x (2, 4, 6, 5), psi (2, 8)): max difference 0.0318 at [1, 2, 0, 3] ...
    #     hint: torch.var() is unbiased by default; instance norm divides by H·W (unbiased=False)

Every ``check_*`` prints one ✓/✗ line (and, when wrong, what differs and a hint) and
returns True or False. A wrong answer never raises — an error inside your code is
reported as a ✗ naming the line — only misuse does (passing something that can't be
called). ``compare(name, mine, reference)`` is the general tool, in the spirit of
nn-zero-to-hero's ``cmp``: exact / approximate / max difference, shapes and dtypes.

Stuck? Peek: ``from fsth.solutions import adain`` (and the others, same names).

The bottom of this file holds the course's plumbing: where notebooks keep their data
(``course_dir``), the small SynthHeads set they share (``course_data``) and the model
notebook 06 trains and 07–09 reuse (``course_model``).
"""
from __future__ import annotations

import copy
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .hardware import configure_threads

configure_threads()  # a notebook kernel gets the cores it may use (cgroup quota), not the machine's

__all__ = ["compare", "check_to_tensor", "check_landmark_image", "check_episode", "check_resblock_down",
           "check_embedder_average", "check_adain", "check_hinge_loss", "check_feature_matching",
           "check_embedding_match", "check_personalize", "check_relative_adaptation", "check_eer",
           "course_dir", "course_data", "course_train_config", "course_model", "show", "tile"]

OK, WRONG = "✓", "✗"

# A network small enough that every check runs in a fraction of a second.
CHECK_MODEL = {"image_size": 32, "channels": 8, "max_channels": 32, "embed_dim": 16, "generator_downs": 2,
               "generator_res_blocks": 1, "attention_size": 8, "num_videos": 3}


# ----------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------

def _report(name: str, ok: bool, message: str, details=(), hint: str | None = None) -> bool:
    print(f"{OK if ok else WRONG} {name}: {message}")
    for line in details:
        print(f"    {line}")
    if hint and not ok:
        print(f"    hint: {hint}")
    return ok


def _require_callable(name: str, obj) -> None:
    if not callable(obj):
        raise TypeError(f"{name}: expected your function (or class), got {type(obj).__name__} {obj!r:.60}")


class _Raised(Exception):
    """Your code raised: carries a one-line description of where."""


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # the learner's bug, reported rather than raised
        raise _Raised(_describe_error(err)) from err


def _describe_error(err: Exception) -> str:
    if isinstance(err, NotImplementedError):
        return "not implemented yet (it raised NotImplementedError): fill in the body"
    frames = traceback.extract_tb(err.__traceback__)
    here = os.path.dirname(os.path.abspath(__file__))
    # the innermost frame that is neither this file nor a library: most likely your code
    yours = [f for f in frames if os.path.abspath(f.filename) != os.path.abspath(__file__)
             and "site-packages" not in f.filename and not f.filename.startswith(here)]
    where = ""
    if yours:
        f = yours[-1]
        where = f" (line {f.lineno}{': ' + f.line.strip() if f.line else ''})"
    return f"your code raised {type(err).__name__}: {str(err).strip()[:300]}{where}"


def _numpy(value):
    """Tensors, arrays, numbers and lists to a numpy array; None stays None."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy() if value.dtype == torch.bfloat16 else value.detach().cpu().numpy()
    return np.asarray(value)


def _dtype_name(value) -> str:
    if isinstance(value, torch.Tensor):
        return str(value.dtype).replace("torch.", "torch ")
    if isinstance(value, np.ndarray):
        return f"numpy {value.dtype}"
    return type(value).__name__


def _difference(mine, reference, atol: float, rtol: float, check_dtype: bool = True) -> tuple[bool, str, list[str]]:
    """(ok, one-line summary, details) of ``mine`` against ``reference``."""
    if mine is None:
        return False, "got None — did you forget to return the result?", []
    a, b = _numpy(mine), _numpy(reference)
    if a.dtype == object:
        return False, f"got {type(mine).__name__}, which isn't a tensor or an array of numbers", []
    if a.shape != b.shape:
        extra = ""
        if a.size == b.size:
            extra = " (same number of values: a transposed or wrongly reshaped result?)"
        return False, f"shape {tuple(a.shape)}, but fsth gives {tuple(b.shape)}{extra}", []
    kind_a, kind_b = a.dtype.kind, b.dtype.kind
    if check_dtype and (kind_a in "fc") != (kind_b in "fc"):
        return False, f"dtype {_dtype_name(mine)}, but fsth gives {_dtype_name(reference)}", []
    if kind_a == "b" or kind_b == "b":
        a, b = a.astype(np.int64), b.astype(np.int64)
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    notes = []
    if check_dtype and a.dtype != b.dtype:
        notes.append(f"(dtype {_dtype_name(mine)}; fsth's is {_dtype_name(reference)})")
    if np.isnan(fa).any() and not np.isnan(fb).any():
        return False, f"{int(np.isnan(fa).sum())} NaN value(s) where fsth has none", notes
    if a.size == 0 or np.array_equal(fa, fb, equal_nan=True):
        return True, "exact", notes
    diff = np.abs(fa - fb)
    diff = np.where(np.isnan(fa) & np.isnan(fb), 0.0, diff)
    limit = atol + rtol * np.abs(fb)
    worst = np.unravel_index(int(np.argmax(diff - limit)), diff.shape) if diff.ndim else ()
    max_diff = float(diff.max())
    if (diff <= limit).all():
        return True, f"approximate (max difference {max_diff:.2g} within tolerance)", notes
    bad = int((diff > limit).sum())
    at = f" at {list(map(int, worst))}" if worst else ""
    values = f" (yours {fa[worst]:.6g}, fsth {fb[worst]:.6g})"
    summary = f"max difference {max_diff:.4g}{at}{values}"
    if a.size > 1:
        summary += f"; {bad} of {a.size} values differ beyond tolerance"
    return False, summary, notes


def compare(name: str, mine, reference, atol: float = 1e-5, rtol: float = 1e-4, hint: str | None = None) -> bool:
    """Compare any result with a reference and say how they differ (nn-zero-to-hero's ``cmp``).

    Prints ``✓ name: exact`` / ``✓ name: approximate (...)`` / ``✗ name: max difference ...``
    (with shapes and dtypes when they disagree) and returns whether it passes.
    """
    ok, summary, notes = _difference(mine, reference, atol, rtol)
    return _report(name, ok, summary, notes, hint)


def _matches(mine, candidate, atol=1e-4, rtol=1e-3) -> bool:
    """Does the learner's (wrong) output equal a known mistake's output?"""
    try:
        a, b = _numpy(mine), _numpy(candidate)
        return a.shape == b.shape and np.allclose(a.astype(np.float64), b.astype(np.float64), atol=atol, rtol=rtol)
    except Exception:
        return False


def _diagnose(mine, mistakes) -> str | None:
    """The hint of the first known mistake that reproduces ``mine``, if any."""
    for hint, produce in mistakes:
        try:
            if _matches(mine, produce()):
                return hint
        except Exception:
            continue
    return None


def _run_cases(name: str, target: str, cases, run_mine, run_reference, mistakes_for=None, atol=1e-5, rtol=1e-4,
               generic_hint: str | None = None, check_dtype: bool = True, suffix: str = "") -> bool:
    """Run every case; report the first that fails (with a diagnosis) or the overall pass."""
    worst_kind, max_diff = "exact", 0.0
    for i, (label, args) in enumerate(cases):
        reference = run_reference(*args)
        try:
            mine = run_mine(*args)
        except _Raised as err:
            return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {err}")
        ok, summary, notes = _difference(mine, reference, atol, rtol, check_dtype)
        if not ok:
            hint = _diagnose(mine, mistakes_for(*args)) if mistakes_for else None
            return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {summary}", notes,
                           hint or generic_hint)
        if summary != "exact":
            worst_kind = "approximate"
            max_diff = max(max_diff, float(np.abs(_numpy(mine).astype(np.float64) - _numpy(reference)).max()))
    detail = f" (max difference {max_diff:.2g}; tolerance {atol:g} + {rtol:g}·|fsth|)" if max_diff else ""
    return _report(name, True, f"matches {target} — {worst_kind}{detail} on {len(cases)} case(s){suffix}")


def _shape(t) -> str:
    return str(tuple(t.shape))


# ----------------------------------------------------------------------------------------
# 00 / 02: images as tensors
# ----------------------------------------------------------------------------------------

def check_to_tensor(fn: Callable) -> bool:
    """``fn(images)``: uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1] (fsth.train.episodes.to_tensor)."""
    from .train.episodes import to_tensor

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
                      to_tensor, mistakes, atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------------------
# 01: landmark images
# ----------------------------------------------------------------------------------------

def _face_points(size: int, index: int = 0) -> np.ndarray:
    from .data.synthetic import Pose, random_identity, render_frame

    who = random_identity(np.random.default_rng([7, index]))
    pose = Pose(yaw=[0, 18, -12][index % 3], roll=[0, 6, -4][index % 3], jaw=[0.2, 0.8, 0.0][index % 3])
    return render_frame(who, pose, 64)[1] * (size / 64) + 0.5 * (size / 64 - 1)


def _part_masks(points: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Where fsth draws each part alone (strong pixels), and each closed part's closing segment."""
    import cv2

    from .landmarks.draw import line_width
    from .landmarks.parts import PARTS

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
    from .landmarks.parts import PART_COLORS

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
    from .landmarks.draw import line_width
    from .landmarks.parts import PARTS

    start, stop, _ = PARTS[part]
    yy, xx = np.mgrid[:size, :size]
    near = np.zeros((size, size), bool)
    radius = 2.0 * line_width(size)
    for x, y in points[start:stop]:
        near |= (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
    return near


def check_landmark_image(fn: Callable) -> bool:
    """``fn(points (68, 2), size) -> uint8 (size, size, 3)``: the landmark image of
    :func:`fsth.landmarks.draw_landmarks` — one colour per part, closed eyes and lips."""
    from .landmarks.draw import draw_landmarks

    _require_callable("landmark_image", fn)
    cases = [(f"{size} px, face {i}", (_face_points(size, i), size)) for i, size in ((0, 64), (1, 256), (2, 128))]
    name = "landmark_image"
    loose = False
    for i, (label, (points, size)) in enumerate(cases):
        reference = draw_landmarks(points, size)
        try:
            mine = _call(fn, points.copy(), size)
        except _Raised as err:
            return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {err}")
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
            from .landmarks.parts import PART_COLORS

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


def _describe(value: np.ndarray) -> str:
    return f"shape {value.shape}, dtype {value.dtype}"


# ----------------------------------------------------------------------------------------
# 03: residual downsampling and the embedder
# ----------------------------------------------------------------------------------------

def _plain_weight(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A convolution's effective weight (after spectral normalisation, if any) and bias."""
    return conv.weight.detach().clone(), None if conv.bias is None else conv.bias.detach().clone()


def _reference_down(cin: int, cout: int, convs: dict[str, tuple]) -> nn.Module:
    """fsth's ResBlockDown with spectral normalisation removed and the learner's weights in."""
    from torch.nn.utils import parametrize

    from .nn.blocks import ResBlockDown

    block = ResBlockDown(cin, cout).eval()
    for key, (weight, bias) in convs.items():
        conv = getattr(block, key)
        parametrize.remove_parametrizations(conv, "weight", leave_parametrized=False)
        with torch.no_grad():
            conv.weight.copy_(weight)
            if bias is None:
                conv.bias = None
            else:
                conv.bias.copy_(bias)
    return block


def check_resblock_down(cls: Callable) -> bool:
    """``cls(cin, cout)``: a residual block that halves the resolution, as fsth's
    ``ResBlockDown`` (pre-activated, avg-pooled, a 1×1 skip). Name its layers ``conv1``
    (3×3, cin→cout), ``conv2`` (3×3, cout→cout) and ``skip`` (1×1, cin→cout) so the check can
    run fsth's block with your weights."""
    _require_callable("ResBlockDown", cls)
    name = "ResBlockDown"
    torch.manual_seed(0)
    try:
        block = _call(cls, 4, 8)
    except _Raised as err:
        return _report(name, False, f"creating it as cls(4, 8): {err}")
    if not isinstance(block, nn.Module):
        return _report(name, False, f"cls(4, 8) gave {type(block).__name__}, not a torch.nn.Module")
    missing = [k for k in ("conv1", "conv2", "skip") if not isinstance(getattr(block, k, None), nn.Conv2d)]
    if missing:
        return _report(name, False, f"no nn.Conv2d named {', '.join(missing)}",
                       hint="name the layers conv1 (3×3), conv2 (3×3) and skip (1×1) so the check can compare")
    block.eval()
    convs = {k: _plain_weight(getattr(block, k)) for k in ("conv1", "conv2", "skip")}
    expected = {"conv1": (8, 4, 3, 3), "conv2": (8, 8, 3, 3), "skip": (8, 4, 1, 1)}
    for key, shape in expected.items():
        if tuple(convs[key][0].shape) != shape:
            return _report(name, False, f"{key}.weight has shape {tuple(convs[key][0].shape)}, expected {shape} "
                                        "(out channels, in channels, kernel, kernel)",
                           hint="conv1: cin→cout 3×3 (padding 1), conv2: cout→cout 3×3, skip: cin→cout 1×1")
    reference = _reference_down(4, 8, convs)
    rng = torch.Generator().manual_seed(1)
    cases = [("x (2, 4, 16, 16)", (torch.randn(2, 4, 16, 16, generator=rng),)),
             ("x (1, 4, 8, 6)", (torch.randn(1, 4, 8, 6, generator=rng),))]

    def functional(x, preact=True, pool=F.avg_pool2d, pool_skip=True, mid_relu=True):
        (w1, b1), (w2, b2), (ws, bs) = convs["conv1"], convs["conv2"], convs["skip"]
        h = F.relu(x) if preact else x
        h = F.conv2d(h, w1, b1, padding=1)
        h = F.relu(h) if mid_relu else h
        h = pool(F.conv2d(h, w2, b2, padding=1), 2)
        skip = F.conv2d(pool(x, 2) if pool_skip else x, ws, bs)
        return h + skip

    def mistakes(x):
        return [("average-pool (F.avg_pool2d), not max-pool: both paths are smoothed the same way",
                 lambda: functional(x, pool=F.max_pool2d)),
                ("pre-activation: the residual path starts with a ReLU of the input", lambda: functional(x, preact=False)),
                ("a ReLU between conv1 and conv2", lambda: functional(x, mid_relu=False))]

    with torch.no_grad():
        return _run_cases(name, "fsth.nn.ResBlockDown (with your weights)", cases,
                          lambda x: _call(block, x.clone()), reference, mistakes, atol=1e-5, rtol=1e-4,
                          generic_hint="residual: conv1 → ReLU → conv2 → avg-pool, plus skip(avg-pool(x)); "
                                       "the residual path starts with ReLU(x)")


def _check_model(**overrides):
    from .nn import create

    torch.manual_seed(0)
    return create({**CHECK_MODEL, **overrides}).eval()


def check_embedder_average(fn: Callable) -> bool:
    """``fn(embedder, frames, landmarks) -> ê``: frames and landmark images (B, K, 3, S, S)
    in [-1, 1] to the mean of E's vectors over the K frames of each video, (B, embed_dim)."""
    _require_callable("embed_average", fn)
    model = _check_model()
    embedder = model.embedder
    rng = torch.Generator().manual_seed(2)
    size = CHECK_MODEL["image_size"]
    cases = [(f"B={b}, K={k}", (torch.rand(b, k, 3, size, size, generator=rng) * 2 - 1,
                                torch.rand(b, k, 3, size, size, generator=rng) * 2 - 1)) for b, k in ((2, 3), (1, 1), (3, 2))]

    def reference(frames, landmarks):
        with torch.no_grad():
            return embedder.embed(frames, landmarks)

    def mine(frames, landmarks):
        with torch.no_grad():
            return _call(fn, embedder, frames.clone(), landmarks.clone())

    def mistakes(frames, landmarks):
        b, k = frames.shape[:2]
        with torch.no_grad():
            per_frame = embedder(frames.flatten(0, 1), landmarks.flatten(0, 1))
            return [("average, don't sum: ê must not grow with K", lambda: per_frame.view(b, k, -1).sum(1)),
                    ("embed each frame, then average the vectors — averaging the images first blurs "
                     "them (E isn't linear)", lambda: embedder(frames.mean(1), landmarks.mean(1))),
                    ("flatten(0, 1) puts the K frames of one video next to each other: view the result "
                     "back as (B, K, D), not (K, B, D)", lambda: per_frame.view(k, b, -1).mean(0))]

    return _run_cases("embed_average", "Embedder.embed", cases, mine, reference, mistakes, atol=1e-4, rtol=1e-4,
                      generic_hint="e = embedder(frames.flatten(0, 1), landmarks.flatten(0, 1)); "
                                   "ê = e.view(B, K, -1).mean(dim=1)")


# ----------------------------------------------------------------------------------------
# 04: AdaIN
# ----------------------------------------------------------------------------------------

def _as_adain(obj) -> Callable:
    """A function (x, psi) from a function, a module, or a class taking ``channels``."""
    if inspect.isclass(obj):
        instances = {}

        def run(x, psi):
            c = x.shape[1]
            if c not in instances:
                instances[c] = _call(obj, c)
            return _call(instances[c], x, psi)
        return run
    return lambda x, psi: _call(obj, x, psi)


def check_adain(cls_or_fn) -> bool:
    """``adain(x (B, C, H, W), psi (B, 2C)) -> (B, C, H, W)``: normalise each channel of each
    image, then scale by psi[:, :C] and shift by psi[:, C:] (fsth.nn.AdaIN). A class taking
    the channel count (like ``AdaIN(C)``) or a module works too."""
    from .nn.blocks import AdaIN

    _require_callable("adain", cls_or_fn)
    run = _as_adain(cls_or_fn)
    rng = torch.Generator().manual_seed(3)
    cases = []
    for b, c, h, w in ((2, 4, 6, 5), (1, 3, 8, 8), (3, 2, 4, 7)):
        x = torch.randn(b, c, h, w, generator=rng) * 3 + 1
        psi = torch.randn(b, 2 * c, generator=rng)
        cases.append((f"x {_shape(x)}, psi {_shape(psi)}", (x, psi)))

    def reference(x, psi):
        return AdaIN(x.shape[1])(x, psi)

    def mistakes(x, psi):
        scale, bias = psi[:, :, None, None].chunk(2, dim=1)

        def norm(dims, unbiased=False):
            mean = x.mean(dims, keepdim=True)
            return (x - mean) / torch.sqrt(x.var(dims, keepdim=True, unbiased=unbiased) + 1e-5)
        return [("torch.var() is unbiased by default; instance norm divides by H·W (unbiased=False)",
                 lambda: norm((2, 3), True) * scale + bias),
                ("statistics per image and per channel: mean and variance over H and W only (dims 2, 3) — "
                 "over the batch too is batch norm", lambda: norm((0, 2, 3)) * scale + bias),
                ("per channel: over (C, H, W) together is layer norm; AdaIN uses dims (2, 3)",
                 lambda: norm((1, 2, 3)) * scale + bias),
                ("psi holds the C scales first, then the C biases", lambda: norm((2, 3)) * bias + scale),
                ("fsth multiplies by the scale itself, not by (1 + scale)", lambda: norm((2, 3)) * (1 + scale) + bias)]

    return _run_cases("adain", "fsth.nn.AdaIN", cases, lambda x, psi: run(x.clone(), psi.clone()), reference,
                      mistakes, atol=1e-4, rtol=1e-4,
                      generic_hint="normalised = (x − mean) / sqrt(var + 1e-5) over dims (2, 3); "
                                   "then normalised · scale + bias with scale, bias = psi.chunk(2, dim=1)")


# ----------------------------------------------------------------------------------------
# 05 / 06: losses
# ----------------------------------------------------------------------------------------

def _score_cases():
    rng = torch.Generator().manual_seed(4)
    return [("8 scores around 0", (torch.randn(8, generator=rng) * 0.5, torch.randn(8, generator=rng) * 0.5)),
            ("16 large scores", (torch.randn(16, generator=rng) * 4, torch.randn(16, generator=rng) * 4 - 1)),
            ("confident D", (torch.full((4,), 2.5), torch.full((4,), -3.0)))]


def check_hinge_loss(fn: Callable) -> bool:
    """``fn(real_score, fake_score) -> scalar``: the discriminator's hinge loss,
    mean relu(1 − D(real)) + mean relu(1 + D(fake)), on raw scores (fsth.losses.hinge_d_loss)."""
    from .losses import hinge_d_loss

    _require_callable("hinge_loss", fn)

    def mistakes(real, fake):
        return [("no sigmoid: the hinge works on raw scores — squashing them into (0, 1) keeps the loss "
                 "from ever reaching 0 and D saturates (a pitfall seen in public re-implementations)",
                 lambda: F.relu(1 - torch.sigmoid(real)).mean() + F.relu(1 + torch.sigmoid(fake)).mean()),
                ("real images should be pushed above +1: relu(1 − real); fakes below −1: relu(1 + fake)",
                 lambda: F.relu(1 + real).mean() + F.relu(1 - fake).mean()),
                ("average over the batch (mean), don't sum", lambda: F.relu(1 - real).sum() + F.relu(1 + fake).sum()),
                ("the hinge: relu(1 − s) stops pushing once D is confident; without relu the scores "
                 "grow forever", lambda: (1 - real).mean() + (1 + fake).mean())]

    return _run_cases("hinge_loss", "fsth.losses.hinge_d_loss", _score_cases(),
                      lambda r, f: _call(fn, r.clone(), f.clone()), hinge_d_loss, mistakes, atol=1e-5, rtol=1e-5)


def check_feature_matching(fn: Callable) -> bool:
    """``fn(fake_features, real_features) -> scalar``: the sum over layers of the mean L1
    difference between D's activations on fakes and on reals, with the real ones detached
    (fsth.losses.feature_matching_loss)."""
    from .losses import feature_matching_loss

    _require_callable("feature_matching", fn)
    rng = torch.Generator().manual_seed(5)

    def features(*shapes):
        return [torch.randn(*s, generator=rng) for s in shapes]

    cases = [("3 layers", (features((2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2)),
                           features((2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2)))),
             ("1 layer", (features((1, 3, 5, 5)), features((1, 3, 5, 5))))]

    def mistakes(fake, real):
        return [("L1 — the mean absolute difference — not the squared one",
                 lambda: sum(F.mse_loss(f, r) for f, r in zip(fake, real))),
                ("sum over the layers (each layer's mean L1), not their average",
                 lambda: sum(F.l1_loss(f, r) for f, r in zip(fake, real)) / len(fake)),
                ("use every layer's activations, not only the last", lambda: F.l1_loss(fake[-1], real[-1]))]

    fake = [t.clone().requires_grad_(True) for t in cases[0][1][0]]
    real = [t.clone().requires_grad_(True) for t in cases[0][1][1]]
    try:
        loss = _call(fn, fake, real)
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            _call(loss.backward)
    except _Raised as err:
        return _report("feature_matching", False, f"case 1 of 2 ({cases[0][0]}): {err}")
    if any(t.grad is not None and t.grad.abs().sum() > 0 for t in real):
        return _report("feature_matching", False, "the loss sends gradients into the real features",
                       hint="detach the real activations (r.detach()): the generator's loss must not move "
                            "what D sees on real images")
    if isinstance(loss, torch.Tensor) and any(t.grad is None for t in fake):
        return _report("feature_matching", False, "no gradient reaches the fake features",
                       hint="don't detach the fakes: this loss trains the generator through them")
    return _run_cases("feature_matching", "fsth.losses.feature_matching_loss", cases,
                      lambda f, r: _call(fn, [t.clone() for t in f], [t.clone() for t in r]),
                      feature_matching_loss, mistakes, atol=1e-5, rtol=1e-5,
                      suffix="; gradients reach the fakes only")


def check_embedding_match(fn: Callable) -> bool:
    """``fn(w_rows (B, D), e_hat (B, D)) -> scalar``: L_MCH, the mean |Wᵢ − êᵢ| (fsth.losses.embedding_match_loss)."""
    from .losses import embedding_match_loss

    _require_callable("embedding_match", fn)
    rng = torch.Generator().manual_seed(6)
    cases = [(f"B={b}, D={d}", (torch.randn(b, d, generator=rng), torch.randn(b, d, generator=rng).abs()))
             for b, d in ((4, 16), (1, 8))]

    def mistakes(w, e):
        return [("L1: mean |W − ê| — not the squared difference", lambda: F.mse_loss(w, e)),
                ("take the mean over batch and dimensions, not the sum", lambda: (w - e).abs().sum()),
                ("the absolute value: without it positive and negative differences cancel", lambda: (w - e).mean())]

    return _run_cases("embedding_match", "fsth.losses.embedding_match_loss", cases,
                      lambda w, e: _call(fn, w.clone(), e.clone()), embedding_match_loss, mistakes, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------
# 07: few-shot fine-tuning
# ----------------------------------------------------------------------------------------

def check_personalize(fn: Callable) -> bool:
    """``fn(model, e_hat (D,)) -> (psi, w)``: the paper's fine-tuning start — the generator's
    AdaIN parameters ψ′ = P·ê (``model.generator.projection``) and the discriminator's
    w′ = w₀ + ê (``model.discriminator.w0``)."""
    _require_callable("personalize", fn)
    name = "personalize"
    model = _check_model()
    rng = torch.Generator().manual_seed(8)
    for i in range(2):
        e_hat = torch.rand(CHECK_MODEL["embed_dim"], generator=rng) * 3
        with torch.no_grad():
            psi_ref = model.generator.projection(e_hat[None])[0]
            w_ref = model.discriminator.w0 + e_hat
        theirs = copy.deepcopy(model)
        try:
            with torch.no_grad():
                result = _call(fn, theirs, e_hat.clone())
        except _Raised as err:
            return _report(name, False, f"case {i + 1} of 2: {err}")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return _report(name, False, f"return (psi, w), got {type(result).__name__}")
        psi, w = result
        psi = psi.reshape(-1) if isinstance(psi, torch.Tensor) and psi.numel() == psi_ref.numel() else psi
        w = w.reshape(-1) if isinstance(w, torch.Tensor) and w.numel() == w_ref.numel() else w
        for label, mine, ref, mistakes in (
                ("psi", psi, psi_ref, [
                    ("ψ′ = P·ê uses the module itself, model.generator.projection(ê): its spectral "
                     "normalisation divides the raw weight by its largest singular value",
                     lambda: F.linear(e_hat, model.generator.projection.parametrizations.weight.original,
                                      model.generator.projection.bias)),
                    ("the projection has a bias: call the module rather than multiplying by its weight",
                     lambda: model.generator.projection.weight @ e_hat)]),
                ("w", w, w_ref, [
                    ("w′ = w₀ + ê: keep the shared w₀ (model.discriminator.w0)", lambda: e_hat),
                    ("a new person has no row of W: start from the shared w₀, not from Wᵢ",
                     lambda: model.discriminator.W.weight[0] + e_hat)])):
            ok, summary, notes = _difference(mine, ref, 1e-5, 1e-4)
            if not ok:
                hint = _diagnose(mine, mistakes) or ("ψ′ = model.generator.projection(ê); "
                                                      "w′ = model.discriminator.w0 + ê")
                return _report(name, False, f"case {i + 1} of 2: {label}: {summary}", notes, hint)
    return _report(name, True, "ψ′ = P·ê and w′ = w₀ + ê, as fsth.train.finetune.personalize (2 cases)")


# ----------------------------------------------------------------------------------------
# 08: landmark adaptation
# ----------------------------------------------------------------------------------------

def _adaptation_cases():
    from .data.synthetic import random_identity, render_clip

    cases = []
    for i, (angle, scale, shift) in enumerate(((0.0, 1.0, (0, 0)), (0.25, 2.5, (40, -10)), (-0.15, 0.7, (-5, 12)))):
        driving = render_clip(random_identity(np.random.default_rng([11, i])), frames=6, size=64, seed=i)[1]
        portrait = render_clip(random_identity(np.random.default_rng([12, i])), frames=1, size=64, seed=9 + i)[1][0]
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        portrait = ((portrait - 32) @ rot.T * scale + 32 * scale + np.array(shift)).astype(np.float32)
        cases.append((f"portrait turned {np.degrees(angle):.0f}°, {scale}× the size; reference frame {i % 3}",
                      (driving, portrait, i % 3)))
    return cases


def check_relative_adaptation(fn: Callable) -> bool:
    """``fn(driving (T, 68, 2), portrait (68, 2), reference) -> (T, 68, 2)``: the portrait's
    own landmarks plus the driving face's motion since frame ``reference``, measured in
    normalised face coordinates (fsth.landmarks.adapt_landmarks, mode "relative")."""
    from .landmarks.adapt import adapt_landmarks

    _require_callable("relative_adaptation", fn)
    name = "relative_adaptation"
    for i, (label, (driving, portrait, ref)) in enumerate(_adaptation_cases()):
        expected = adapt_landmarks(driving, portrait, mode="relative", reference=ref)
        eyes = float(np.linalg.norm(portrait[36:42].mean(0) - portrait[42:48].mean(0)))
        tolerance = 0.005 * eyes  # half a percent of the eye distance
        try:
            mine = _call(fn, driving.copy(), portrait.copy(), ref)
        except _Raised as err:
            return _report(name, False, f"case {i + 1} of 3 ({label}): {err}")
        ok, summary, notes = _difference(mine, expected, tolerance, 0.0, check_dtype=False)
        if ok:
            continue
        mistakes = [
            ("that is mode 'none': the driving face moved onto the portrait, with its own shape. "
             "'relative' keeps the portrait's landmarks and adds only the motion (frame t − frame reference)",
             lambda: adapt_landmarks(driving, portrait, mode="none", reference=ref)),
            ("measure the motion in the normalised frame (eye centres at ±0.5) and map it into the "
             "portrait's: faces differ in size and tilt, so raw pixel offsets don't transfer",
             lambda: portrait + (driving - driving[ref])),
            ("the reference is the driving frame given by `reference`, not always frame 0",
             lambda: adapt_landmarks(driving, portrait, mode="relative", reference=0))]
        hint = _diagnose(mine, mistakes)
        details = notes
        if mine is not None and _numpy(mine).shape == expected.shape:
            err = np.abs(_numpy(mine).astype(np.float64) - expected).max()
            details = [f"largest error {err:.2f} px = {err / eyes:.1%} of the portrait's eye distance "
                       f"(tolerance 0.5 %)", *notes]
            if not np.allclose(_numpy(mine)[ref], portrait, atol=tolerance):
                details.append(f"frame {ref} (the reference) should give the portrait's own landmarks back")
        return _report(name, False, f"case {i + 1} of 3 ({label}): {summary}", details,
                       hint or "normalise both faces with fsth.landmarks.adapt.similarity, add "
                               "(driving[t] − driving[reference]) in normalised coordinates to the portrait, map back")
    return _report(name, True, "matches adapt_landmarks(mode='relative') within 0.5 % of the eye distance (3 cases)")


# ----------------------------------------------------------------------------------------
# 09: detectability
# ----------------------------------------------------------------------------------------

def check_eer(fn: Callable) -> bool:
    """``fn(labels, scores) -> float``: the equal error rate, where the false-positive rate
    (reals called fake) equals the false-negative rate (fakes missed) (detector.metrics.eer).
    Definitions differ in how they interpolate between ROC points, so 0.01 is allowed."""
    from detector.metrics import eer

    _require_callable("eer", fn)
    name = "eer"
    rng = np.random.default_rng(10)
    cases = []
    for n, gap in ((400, 1.0), (120, 0.3), (60, 3.0)):
        labels = rng.permutation(np.repeat([0, 1], n // 2))
        scores = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + gap * (labels - 0.5) * 2)))
        cases.append((f"{n} images, separation {gap}", (labels, scores)))
    labels = np.array([0, 0, 0, 1, 1, 1])
    cases.append(("perfectly separated", (labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))))
    for i, (label, (labels, scores)) in enumerate(cases):
        expected = eer(labels, scores)
        try:
            mine = _call(fn, labels.copy(), scores.copy())
        except _Raised as err:
            return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {err}")
        try:
            value = float(np.asarray(_numpy(mine)).reshape(()))
        except (TypeError, ValueError):
            return _report(name, False, f"case {i + 1}: return one number, got {type(mine).__name__}")
        if abs(value - expected) <= 0.01:
            continue
        from sklearn.metrics import roc_auc_score

        fpr_half = ((scores >= 0.5) & (labels == 0)).sum() / (labels == 0).sum()
        fnr_half = ((scores < 0.5) & (labels == 1)).sum() / (labels == 1).sum()
        mistakes = [("that is 1 − AUC; the EER is one point of the ROC curve, where FPR = 1 − TPR",
                     lambda: 1 - roc_auc_score(labels, scores)),
                    ("that is the error at the fixed threshold 0.5; the EER moves the threshold until both "
                     "error rates are equal", lambda: (fpr_half + fnr_half) / 2),
                    ("that is the accuracy's complement at threshold 0.5, not the EER",
                     lambda: float(((scores >= 0.5) != labels).mean())),
                    ("false-negative rate = 1 − TPR; the EER is where FPR = 1 − TPR (not FPR = TPR)",
                     lambda: _fpr_equals_tpr(labels, scores))]
        hint = _diagnose(value, mistakes) or ("fpr, tpr, _ = sklearn.metrics.roc_curve(labels, scores); "
                                              "find where fpr crosses 1 − tpr")
        return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {value:.4f}, "
                                    f"detector.metrics.eer gives {expected:.4f}", hint=hint)
    return _report(name, True, f"matches detector.metrics.eer within 0.01 on {len(cases)} cases")


def _fpr_equals_tpr(labels, scores) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return float(fpr[int(np.argmin(np.abs(fpr - tpr)[1:])) + 1])


# ----------------------------------------------------------------------------------------
# Course plumbing: shared data and the model trained in notebook 06
# ----------------------------------------------------------------------------------------

def course_dir() -> Path:
    """Where the notebooks keep what they make: ``$FSTH_COURSE_DIR``, else ``<fsth cache>/course``."""
    from .data.samples import cache_dir

    return Path(os.environ.get("FSTH_COURSE_DIR") or cache_dir() / "course")


def course_data(preset: str = "tiny", fast: bool = True) -> Path:
    """The SynthHeads set the course trains on (written once, then reused).

    FAST: 24 people × 2 clips × 16 frames (seconds to write); otherwise 500 × 2 × 32.
    """
    from .data.synthetic import write_dataset
    from .nn import get_config

    size = get_config(preset).image_size
    people, frames = (24, 16) if fast else (500, 32)
    out = course_dir() / f"synth-{size}px-{people}x2x{frames}"
    write_dataset(out, identities=people, clips_per_identity=2, frames=frames, size=size, seed=0,
                  workers=1 if fast else max(1, (os.cpu_count() or 1) - 1), progress=False)
    return out


def course_train_config(preset: str = "tiny", fast: bool = True, device: str = "auto", minutes: float | None = None):
    """The training run of notebook 06: meta-learning on :func:`course_data`, 4 people held out.

    FAST: K = 4, batch 4, a higher learning rate, for ``minutes`` (1 by default) on a CPU;
    otherwise the paper's K = 8, batch 8 and learning rates, 20,000 steps.
    """
    from .train.config import TrainConfig

    data = course_data(preset, fast)
    amp = "auto"  # bf16 only where the hardware has it natively (fsth.hardware)
    common = dict(data=str(data), out=str(course_dir() / f"run-{preset}-{'fast' if fast else 'full'}"), preset=preset,
                  holdout=4, seed=0, device=device, vgg19=None if fast else "auto")
    if fast:
        return TrainConfig(**common, k=4, batch_size=4, steps=100_000, max_minutes=1.0 if minutes is None else minutes,
                           log_every=1, image_every=50, checkpoint_every=100_000, keep_last=1,
                           optim={"lr_g": 3e-4, "lr_d": 1.2e-3, "amp": amp})
    return TrainConfig(**common, k=8, batch_size=8, steps=20_000, max_minutes=minutes or 0.0, log_every=20,
                       image_every=500, checkpoint_every=1000, optim={"amp": amp}, ema=0.999)


def course_model(preset: str = "tiny", fast: bool = True, device: str = "cpu", checkpoint: str | None = None,
                 minutes: float = 0.6):
    """The meta-learned model for notebooks 07–09: ``checkpoint`` if given, else notebook 06's
    run, else a run trained now (FAST: ``minutes`` on this machine).

    Returns (model, info): info holds ``checkpoint``, ``data`` and the ``holdout`` identities
    (people the model never saw).
    """
    from .train.checkpoint import latest_checkpoint, load_checkpoint
    from .train.finetune import load_model
    from .train.meta import train

    if checkpoint is None:
        config = course_train_config(preset, fast, device, minutes=minutes if fast else None)
        found = latest_checkpoint(config.out)
        if found is None:
            print(f"no model from notebook 06 in {config.out}: training one now "
                  f"({f'{minutes:g} min' if fast else f'{config.steps} steps'})", file=sys.stderr)
            train(config, progress=False)
            found = latest_checkpoint(config.out)
        checkpoint = found
    state = load_checkpoint(checkpoint)
    model = load_model(checkpoint, device=device)
    info = {"checkpoint": Path(checkpoint), "data": state["train_config"].get("data"), "step": state["step"],
            "holdout": list(state.get("holdout") or [])}
    return model, info


def as_image(x) -> np.ndarray:
    """uint8 (H, W, 3) from a uint8 array or a tensor (3, H, W) in [-1, 1] (fsth's convention)."""
    if isinstance(x, torch.Tensor):
        from .train.episodes import to_uint8

        return to_uint8(x)
    return np.asarray(x)


def show(images, titles=None, cols: int | None = None, scale: float = 2.2, title: str | None = None) -> None:
    """Show pictures side by side: uint8 (H, W, 3) arrays, (H, W) grey arrays or (3, H, W) tensors in [-1, 1]."""
    import math

    import matplotlib.pyplot as plt

    images = [as_image(i) for i in images]
    if not images:
        print(f"nothing to show yet{f' ({title})' if title else ''}: no pictures were made "
              "(a time-boxed run on a slow machine may stop before its first picture)")
        return
    cols = cols or len(images)
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(scale * cols, scale * rows + (0.35 if titles or title else 0)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, name in zip(axes.ravel(), images, titles or [None] * len(images)):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if name:
            ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.show()


def tile(images, height: int | None = None, gap: int = 4) -> np.ndarray:
    """One uint8 picture of images side by side (resized to one ``height``), for widgets."""
    import cv2

    images = [as_image(i) for i in images]
    height = height or max(i.shape[0] for i in images)
    resized = [cv2.resize(i, (max(1, round(i.shape[1] * height / i.shape[0])), height),
                          interpolation=cv2.INTER_AREA if i.shape[0] > height else cv2.INTER_NEAREST) for i in images]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts = []
    for image in resized:
        parts += [image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2), spacer]
    return np.concatenate(parts[:-1], axis=1)
