"""Checks for notebook 11: the visible label stamped with one multiply-add (fsth.live.mark)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import check, _attempt, _difference, _report, _require_callable

TOLERANCE = 2  # grey levels: fsth's label and a float formula may round differently


def _label_cases():
    from ..io.images import read_image
    from ..data import samples
    import cv2

    rng = np.random.default_rng(11)
    portrait = cv2.resize(read_image(samples.fetch("monalisa")), (256, 256), interpolation=cv2.INTER_AREA)
    return [("random pixels at 64 px", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
            ("a flat grey frame at 128 px", np.full((128, 128, 3), 128, np.uint8)),
            ("a portrait at 256 px", portrait)]


def _close(mine, produce) -> bool:
    try:
        a, b = np.asarray(mine, np.float64), np.asarray(produce(), np.float64)
        return a.shape == b.shape and np.abs(a - b).max() <= TOLERANCE
    except Exception:
        return False


@check("label_stamp")
def check_label_stamp(fn: Callable) -> bool:
    """``fn(frame, over_black, over_white) -> frame``: the frame uint8 (S, S, 3) with the label, given
    the label drawn once over a black frame and once over a white one — every labelled pixel is
    ``a * pixel + b``, with ``b`` read off the black frame and ``a`` off the difference (fsth.live.mark)."""
    from ..provenance import label

    name = "label_stamp"
    _require_callable(name, fn)
    for i, (where, frame) in enumerate(_label_cases()):
        black = label(np.zeros_like(frame))
        white = label(np.full_like(frame, 255))
        expected = label(frame)
        failed, mine = _attempt(name, f"case {i + 1} of 3 ({where})", fn, frame.copy(), black.copy(), white.copy(),
                                own=label, target="fsth.provenance.label")
        if failed is not None:
            return failed
        ok, summary, notes = _difference(mine, expected, TOLERANCE, 0.0, check_dtype=False)
        if ok and np.asarray(mine).dtype != np.uint8:
            dtype = np.asarray(mine).dtype
            ok, summary = False, f"dtype {dtype}: a frame is uint8 (clip to 0–255, then .astype(np.uint8))"
        if ok:
            continue
        f, k, w = frame.astype(np.float64), black.astype(np.float64), white.astype(np.float64)
        mistakes = [
            ("that is the label over black, whatever the frame: the frame must show through by a — or the "
             "arithmetic ran in uint8 and wrapped around (convert to float before multiplying)", lambda: black),
            ("a is (over_white − over_black) / 255: the difference is out of 255, not out of 1",
             lambda: np.clip(f * (w - k) + k, 0, 255)),
            ("the frame is added unscaled: a (how much of the pixel shows through) multiplies it",
             lambda: np.clip(f + k, 0, 255)),
            ("over_white and over_black are swapped", lambda: np.clip(f * (k - w) / 255 + w, 0, 255))]
        hint = next((h for h, produce in mistakes if _close(mine, produce)), None) or (
            "out = frame · a + b, with b = over_black and a = (over_white − over_black) / 255, in floats; "
            "round, clip to 0–255 and return uint8")
        return _report(name, False, f"case {i + 1} of 3 ({where}): {summary}", notes, hint)
    return _report(name, True, "matches fsth.provenance.label within 2 grey levels on 3 frames")
