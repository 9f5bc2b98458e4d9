"""Checks for notebook 10: the piecewise-affine landmark warp."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import check, _attempt, _diagnose, _difference, _report, _require_callable


def _warp_cases():
    from ..data.synthetic import random_identity, render_clip

    cases = []
    for i in range(3):
        points = render_clip(random_identity(np.random.default_rng([21, i])), frames=8, size=48, seed=i)[1]
        cases.append((f"a face at 48 px, frame 0 → frame {2 + i}", (points[0], points[2 + i], 48)))
    return cases


@check("piecewise_warp")
def check_piecewise_warp(fn: Callable) -> bool:
    """``fn(source_points (68, 2), target_points (68, 2), size) -> (size, size, 2)``: for every
    pixel (x, y) of the target frame, the (x, y) position in the source image to sample,
    piecewise-affine over a triangulation of the landmarks plus 8 border anchors
    (fsth.warp.source_positions)."""
    from ..warp import source_positions

    name = "piecewise_warp"
    _require_callable(name, fn)
    for i, (label, (source, target, size)) in enumerate(_warp_cases()):
        expected = source_positions(source, target, size)
        failed, mine = _attempt(name, f"case {i + 1} of 3 ({label})", fn, source.copy(), target.copy(), size,
                                own=source_positions, target="fsth.warp.source_positions")
        if failed is not None:
            return failed
        ok, summary, notes = _difference(mine, expected, 1e-3, 0.0, check_dtype=False)
        if ok:
            continue
        grid = np.stack(np.meshgrid(np.arange(size), np.arange(size)), -1).astype(np.float64)
        mistakes = [
            ("positions are (x, y) = (column, row); yours look like (row, column)", lambda: expected[..., ::-1]),
            ("that is no warp at all: each target pixel must look up where the *same point of the face* "
             "is in the source — find its triangle in the target, keep its barycentric weights, apply them "
             "to the same triangle's corners in the source", lambda: grid),
            ("the direction is reversed: for every pixel of the *target* frame you need its position in the "
             "*source* (backward mapping: grid_sample pulls pixels, it cannot push them)",
             lambda: source_positions(target, source, size))]
        hint = _diagnose(mine, mistakes) or ("triangulate the target points plus fsth.warp.border_anchors(size) "
                                             "(scipy.spatial.Delaunay), then use find_simplex and transform")
        return _report(name, False, f"case {i + 1} of 3 ({label}): {summary}", notes, hint)
    return _report(name, True, "matches fsth.warp.source_positions on 3 faces")
