"""Checks for notebooks 08–09: landmark adaptation and the equal error rate."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import (check, _diagnose, _difference, _numpy, _report, _require_callable, _attempt)


def _adaptation_cases():
    from ..data.synthetic import random_identity, render_clip

    cases = []
    for i, (angle, scale, shift) in enumerate(((0.0, 1.0, (0, 0)), (0.25, 2.5, (40, -10)), (-0.15, 0.7, (-5, 12)))):
        driving = render_clip(random_identity(np.random.default_rng([11, i])), frames=6, size=64, seed=i)[1]
        portrait = render_clip(random_identity(np.random.default_rng([12, i])), frames=1, size=64, seed=9 + i)[1][0]
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        portrait = ((portrait - 32) @ rot.T * scale + 32 * scale + np.array(shift)).astype(np.float32)
        cases.append((f"portrait turned {np.degrees(angle):.0f}°, {scale}× the size; reference frame {i % 3}",
                      (driving, portrait, i % 3)))
    return cases


@check("relative_adaptation")
def check_relative_adaptation(fn: Callable) -> bool:
    """``fn(driving (T, 68, 2), portrait (68, 2), reference) -> (T, 68, 2)``: the portrait's
    own landmarks plus the driving face's motion since frame ``reference``, measured in
    normalised face coordinates (fsth.landmarks.adapt_landmarks, mode "relative", the lids and
    lips moved with the rest: ``eyes="relative", mouth="relative"``; retargeting eyes and mouth
    is fsth's later refinement)."""
    from ..landmarks.adapt import adapt_landmarks

    _require_callable("relative_adaptation", fn)
    name = "relative_adaptation"
    for i, (label, (driving, portrait, ref)) in enumerate(_adaptation_cases()):
        expected = adapt_landmarks(driving, portrait, mode="relative", reference=ref, eyes="relative",
                                   mouth="relative")
        eyes = float(np.linalg.norm(portrait[36:42].mean(0) - portrait[42:48].mean(0)))
        tolerance = 0.005 * eyes  # half a percent of the eye distance
        failed, mine = _attempt(name, f"case {i + 1} of 3 ({label})", fn, driving.copy(), portrait.copy(), ref,
                                own=adapt_landmarks, target="fsth.landmarks.adapt_landmarks")
        if failed is not None:
            return failed
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
             lambda: adapt_landmarks(driving, portrait, mode="relative", reference=0, eyes="relative",
                                     mouth="relative"))]
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

@check("eer")
def check_eer(fn: Callable) -> bool:
    """``fn(labels, scores) -> float``: the equal error rate, where the false-positive rate
    (reals called fake) equals the false-negative rate (fakes missed) (fsth.metrics.eer).
    Definitions differ in how they pick or interpolate between ROC points, so the ROC step
    where the two rates cross is allowed. The cases are unbalanced and their scores shifted, so
    a fixed threshold of 0.5 is not where the two error rates meet."""
    from ..metrics import eer

    _require_callable("eer", fn)
    name = "eer"
    rng = np.random.default_rng(10)
    cases = []
    for reals, fakes, gap, shift in ((300, 100, 1.0, 1.2), (60, 180, 0.6, -1.0), (150, 150, 2.0, 0.8),
                                     (40, 400, 1.5, -1.5)):
        labels = rng.permutation(np.repeat([0, 1], [reals, fakes]))
        scores = 1 / (1 + np.exp(-(rng.normal(0, 1, len(labels)) + gap * (labels - 0.5) * 2 + shift)))
        cases.append((f"{reals} reals, {fakes} fakes, separation {gap}, scores shifted {shift:+}", (labels, scores)))
    labels = np.array([0, 0, 0, 1, 1, 1])
    cases.append(("perfectly separated", (labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))))
    for i, (label, (labels, scores)) in enumerate(cases):
        expected = eer(labels, scores)
        step = _roc_step_at_crossing(labels, scores)
        failed, mine = _attempt(name, f"case {i + 1} of {len(cases)} ({label})", fn, labels.copy(), scores.copy(),
                                own=eer, target="detector.metrics.eer")
        if failed is not None:
            return failed
        try:
            value = float(np.asarray(_numpy(mine)).reshape(()))
        except (TypeError, ValueError):
            return _report(name, False, f"case {i + 1}: return one number, got {type(mine).__name__}")
        if abs(value - expected) <= step + 1e-9:
            continue
        from sklearn.metrics import roc_auc_score

        fpr_half = ((scores >= 0.5) & (labels == 0)).sum() / (labels == 0).sum()
        fnr_half = ((scores < 0.5) & (labels == 1)).sum() / (labels == 1).sum()
        mistakes = [("that is 1 − AUC; the EER is one point of the ROC curve, where FPR = 1 − TPR",
                     lambda: 1 - roc_auc_score(labels, scores)),
                    ("that is the error at the fixed threshold 0.5; the EER moves the threshold until both "
                     "error rates are equal", lambda: (fpr_half + fnr_half) / 2),
                    ("that is the false-positive rate at threshold 0.5; the EER moves the threshold until it "
                     "equals the false-negative rate", lambda: fpr_half),
                    ("that is the error rate at threshold 0.5 over all images, not the EER",
                     lambda: float(((scores >= 0.5) != labels).mean())),
                    ("false-negative rate = 1 − TPR; the EER is where FPR = 1 − TPR (not FPR = TPR)",
                     lambda: _fpr_equals_tpr(labels, scores))]
        hint = _diagnose(value, mistakes) or ("sweep the threshold over the scores (sklearn.metrics.roc_curve "
                                              "lists every ROC point) and find where the false-positive rate "
                                              "meets the false-negative rate, 1 − TPR")
        return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {value:.4f}, "
                                    f"detector.metrics.eer gives {expected:.4f} (tolerance: one ROC step, "
                                    f"{step:.4f})", hint=hint)
    return _report(name, True, f"matches detector.metrics.eer within one ROC step on {len(cases)} cases "
                               "(unbalanced, shifted scores)")


def _roc_step_at_crossing(labels, scores) -> float:
    """The size of the ROC step (sklearn's default curve) on which FPR meets 1 − TPR: any answer
    between its two end points is a fair reading of the EER."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    j = max(1, int(np.argmax((1 - tpr) <= fpr)))
    return max(fpr[j] - fpr[j - 1], (1 - tpr[j - 1]) - (1 - tpr[j]), 1 / min((labels == 0).sum(), (labels == 1).sum()))


def _fpr_equals_tpr(labels, scores) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return float(fpr[int(np.argmin(np.abs(fpr - tpr)[1:])) + 1])


@check("temperature")
def check_temperature(fn: Callable) -> bool:
    """``fn(log_odds, labels) -> T``: temperature scaling — the T > 0 for which sigmoid(z / T) has the
    smallest binary cross-entropy on held-out labelled images (fsth.metrics.fit_temperature).
    Any T whose cross-entropy is within 1e-4 of the best passes."""
    from ..metrics import fit_temperature

    _require_callable("temperature", fn)
    name = "temperature"
    rng = np.random.default_rng(21)
    cases = []
    for n, sharpness, shift in ((400, 4.0, 0.0), (150, 0.4, 0.5), (600, 9.0, -1.0)):
        labels = (rng.random(n) < 0.3).astype(int)
        logit = rng.normal(0, 1, n) + 2.0 * (labels - 0.5) + shift
        cases.append((f"{n} images, {'over' if sharpness > 1 else 'under'}-confident ×{sharpness:g}",
                      (sharpness * logit, labels)))

    def nll(z, y, t):
        z = z / t
        return float(np.mean(np.logaddexp(0, z) - y * z))

    for i, (label, (z, y)) in enumerate(cases):
        best = fit_temperature(z, y)
        failed, mine = _attempt(name, f"case {i + 1} of {len(cases)} ({label})", fn, z.copy(), y.copy(),
                                own=fit_temperature, target="detector.metrics.fit_temperature")
        if failed is not None:
            return failed
        try:
            t = float(np.asarray(_numpy(mine)).reshape(()))
        except (TypeError, ValueError):
            return _report(name, False, f"case {i + 1}: return one number T, got {type(mine).__name__}")
        if t > 0 and nll(z, y, t) <= nll(z, y, best) + 1e-4:
            continue
        hint = None
        if t > 0 and abs(1 / t - best) < 0.02 * best:
            hint = "the scores are divided by T: sigmoid(z / T); T > 1 softens over-confident scores — you " \
                   "returned its inverse"
        elif t <= 0:
            hint = "a temperature is positive: search over log T (or a positive range)"
        return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): T = {t:.4g}, the best is "
                                    f"{best:.4g} (cross-entropy {nll(z, y, t) if t > 0 else float('nan'):.4f} "
                                    f"vs {nll(z, y, best):.4f})",
                       hint=hint or "minimise the mean binary cross-entropy of sigmoid(z / T) over T, on these "
                                    "labels (a 1-D search: a grid over log T, then a finer one, is enough)")
    return _report(name, True, f"T as good as detector.metrics.fit_temperature's on {len(cases)} cases "
                               "(cross-entropy within 1e-4)")
