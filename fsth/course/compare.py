"""The comparison engine of the course's checks: your result against fsth's, in one line.

``compare(name, mine, reference)`` prints exact / approximate / max difference, shapes and dtypes
(in the spirit of nn-zero-to-hero's ``cmp``); ``_run_cases`` runs a learner's function and the
reference on fixed cases and names the common mistake when it recognises one.
"""
from __future__ import annotations

import inspect
import os
import sys
import traceback

import numpy as np
import torch


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


class _Watch:
    """Notices when the learner's code runs fsth's own implementation of the exercise (a check
    that compares fsth with itself proves nothing): ``with _Watch(hinge_d_loss) as w: ...; w.seen``."""

    def __init__(self, *references):
        self.codes = set()
        for ref in references:
            for fn in ([getattr(ref, "forward", None), getattr(ref, "__init__", None)] if inspect.isclass(ref)
                       else [getattr(ref, "__func__", ref)]):
                code = getattr(fn, "__code__", None)
                if code is not None and code.co_filename.startswith((_PACKAGE, _DETECTOR)):
                    self.codes.add(code)
        self.seen = False

    def _hook(self, frame, event, arg):
        if event == "call" and frame.f_code in self.codes:
            self.seen = True

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # fsth/
_DETECTOR = os.path.join(os.path.dirname(_PACKAGE), "detector")


def _own_implementation(name: str, target: str) -> bool:
    return _report(name, False, f"that runs {target} itself, so the check would compare fsth with fsth",
                   hint="write the computation yourself (torch operations are fine); "
                        "use fsth's version afterwards to compare, with compare()")


def _attempt(name: str, where: str, fn, *args, own=None, target: str = ""):
    """Run the learner's ``fn(*args)`` watching for fsth's own ``own``: (None, result), or
    (False, None) after reporting the ✗ (their code raised, or ran fsth's implementation)."""
    try:
        with _Watch(*([own] if own is not None else [])) as watch:
            result = _call(fn, *args)
    except _Raised as err:
        return _report(name, False, f"{where}: {err}"), None
    if watch.seen:
        return _own_implementation(name, target), None
    return None, result


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
               generic_hint: str | None = None, check_dtype: bool = True, suffix: str = "", own=()) -> bool:
    """Run every case; report the first that fails (with a diagnosis) or the overall pass.
    own: fsth's implementations of the exercise, which the learner's code must not run."""
    worst_kind, max_diff = "exact", 0.0
    for i, (label, args) in enumerate(cases):
        reference = run_reference(*args)
        try:
            with _Watch(*own) as watch:
                mine = run_mine(*args)
        except _Raised as err:
            return _report(name, False, f"case {i + 1} of {len(cases)} ({label}): {err}")
        if watch.seen:
            return _own_implementation(name, target)
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


def _describe(value: np.ndarray) -> str:
    return f"shape {value.shape}, dtype {value.dtype}"

def _check_model(**overrides):
    from ..nn import create

    torch.manual_seed(0)
    return create({**CHECK_MODEL, **overrides}).eval()
