"""The comparison engine of the course's checks: your result against fsth's, in one line.

``compare(name, mine, reference)`` prints exact / approximate / max difference, shapes and dtypes
(in the spirit of nn-zero-to-hero's ``cmp``); ``_run_cases`` runs a learner's function and the
reference on fixed cases and names the common mistake when it recognises one.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from dataclasses import dataclass

import numpy as np
import torch


OK, WRONG = "✓", "✗"

# A network small enough that every check runs in a fraction of a second.
CHECK_MODEL = {"image_size": 32, "channels": 8, "max_channels": 32, "embed_dim": 16, "generator_downs": 2,
               "generator_res_blocks": 1, "attention_size": 8, "num_videos": 3}


# ----------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------

@dataclass
class Result:
    """One check's verdict as a grader reads it (never from printed text): the check, whether it
    passed, its one-line message and hint."""
    check: str
    ok: bool
    message: str
    hint: str | None = None
    details: tuple = ()


_REPORTS: list[Result] = []  # every report since the last check began (the last one is the verdict)
_LAST: list[Result] = []  # the verdict of the last check that ran
_LENIENT = [0]  # > 0: strict mode is off (mine(), grading)


def _report(name: str, ok: bool, message: str, details=(), hint: str | None = None) -> bool:
    print(f"{OK if ok else WRONG} {name}: {message}")
    for line in details:
        print(f"    {line}")
    if hint and not ok:
        print(f"    hint: {hint}")
    _REPORTS.append(Result(name, bool(ok), message, hint if not ok else None, tuple(details)))
    return ok


def strict() -> bool:
    """Strict mode: a failing check raises AssertionError (nbgrader then gives the cell 0 points).
    On with ``FSTH_STRICT=1`` in the environment or ``fsth.exercises.STRICT = True``."""
    if _LENIENT[0]:
        return False
    if os.environ.get("FSTH_STRICT", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return any(getattr(sys.modules.get(m), "STRICT", False) is True for m in ("fsth.exercises", "fsth.course"))


@contextlib.contextmanager
def lenient():
    """Checks inside never raise, whatever strict mode says (``mine()`` and grading use it)."""
    _LENIENT[0] += 1
    try:
        yield
    finally:
        _LENIENT[0] -= 1


def last_result() -> Result | None:
    """The verdict of the last check that ran (what ``fsth course grade`` records)."""
    return _LAST[-1] if _LAST else None


def check(name: str):
    """Decorate a public ``check_*``: refuse fsth's code pasted into the answer (or any function it
    calls), record the verdict (:func:`last_result`), and raise in strict mode when it fails."""
    def decorate(run_check):
        @functools.wraps(run_check)
        def checked(answer, *args, **kwargs):
            _require_callable(name, answer)
            del _REPORTS[:]
            copied = _pasted(name, answer)
            ok = copied if copied is not None else run_check(answer, *args, **kwargs)
            verdict = _REPORTS[-1] if _REPORTS else Result(name, bool(ok), "passed" if ok else "failed")
            verdict = Result(name, bool(ok), verdict.message, verdict.hint, verdict.details)
            del _REPORTS[:]
            _LAST[:] = [verdict]
            if not ok and strict():
                raise AssertionError(f"✗ {name}: {verdict.message}" + (f" — hint: {verdict.hint}" if verdict.hint else ""))
            return ok
        checked.check_name = name
        return checked
    return decorate


def _pasted(name: str, answer) -> bool | None:
    """The ✗ report (False) when the answer, or a function it calls, is a copy of fsth's code."""
    from . import origin

    try:
        copied = origin.copied_from_fsth(answer)
    except Exception:  # never let the screening break a check
        return None
    if copied is None:
        return None
    yours, theirs = copied
    return _report(name, False, f"your {yours} is fsth's own {theirs}, under another name: the check would compare "
                                "fsth with fsth", hint="write the computation yourself, from the lesson; fsth's "
                                "code is there to compare with afterwards (compare()), not to hand in")


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


@dataclass(frozen=True)
class Rules:
    """What the learner's code may run of fsth while a check watches it (:class:`origin.Fence`):
    ``own`` — fsth's implementation of the exercise, never; ``allow`` — None: anything else, or the
    ``module:qualname`` patterns it may enter (everything else in fsth is refused); ``refuse`` —
    patterns refused even when allowed; ``hint`` — what to do instead."""
    own: tuple = ()
    allow: tuple[str, ...] | None = None
    refuse: tuple[str, ...] = ()
    hint: str = ("write the computation yourself (torch operations are fine); use fsth's version afterwards "
                 "to compare, with compare()")


NETWORKS = ("fsth.nn.*",)  # the networks: E, G and D's forward passes and their parts
PRIMITIVES = ("fsth.losses:hinge_d_loss", "fsth.losses:feature_matching_loss", "fsth.losses:embedding_match_loss",
              "fsth.losses:adversarial_g_loss")  # earlier lessons' losses


class _Watch:
    """Notices when the learner's code runs fsth's own implementation of the exercise, or fsth's
    internals the rules don't allow (a check that compares fsth with itself proves nothing):
    ``with _Watch(hinge_d_loss) as w: ...; w.seen``."""

    def __init__(self, *references, rules: Rules | None = None):
        from .origin import Fence

        rules = rules or Rules()
        self.fence = Fence(*references, *rules.own, allow=rules.allow, refuse=rules.refuse)

    def __enter__(self):
        self.fence.__enter__()
        return self

    def __exit__(self, *exc):
        return self.fence.__exit__(*exc)

    @property
    def seen(self) -> bool:
        return self.fence.seen


def _own_implementation(name: str, target: str, watch: _Watch | None = None, rules: Rules | None = None) -> bool:
    if watch is not None and not watch.fence.own_seen:
        offences = ", ".join(o.replace(":", ".") for o in watch.fence.offences)
        return _report(name, False, f"your code runs fsth's {offences}: fsth's own machinery for this exercise, so "
                                    "the check would compare fsth with fsth", hint=(rules or Rules()).hint)
    return _report(name, False, f"that runs {target} itself, so the check would compare fsth with fsth",
                   hint=(rules or Rules()).hint)


def _attempt(name: str, where: str, fn, *args, own=None, target: str = "", rules: Rules | None = None,
             raise_hint=None):
    """Run the learner's ``fn(*args)`` watching for fsth's own ``own`` (and what ``rules`` refuse):
    (None, result), or (False, None) after reporting the ✗ (their code raised — ``raise_hint(message)``
    may explain it — or ran fsth's implementation)."""
    try:
        with _Watch(*([own] if own is not None else []), rules=rules) as watch:
            result = _call(fn, *args)
    except _Raised as err:
        return _report(name, False, f"{where}: {err}", hint=raise_hint(str(err)) if raise_hint else None), None
    if watch.seen:
        return _own_implementation(name, target, watch, rules), None
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


def _leaves(args, positions):
    """Copies of ``args`` whose tensors at ``positions`` (a tensor or a list of tensors) require
    grad, and those leaves as (label suffix, tensor) per position."""
    out, leaves = list(args), {}
    for i in positions:
        if isinstance(args[i], (list, tuple)):
            out[i] = [t.detach().clone().requires_grad_(True) for t in args[i]]
            leaves[i] = [(f"[{j}]", t) for j, t in enumerate(out[i])]
        else:
            out[i] = args[i].detach().clone().requires_grad_(True)
            leaves[i] = [("", out[i])]
    return out, leaves


def _gradient_report(name: str, where: str, run_mine, run_reference, args, grads, rules, target, hint,
                     atol=1e-4, rtol=1e-3, seed=0):
    """Compare the gradients of the learner's output with fsth's with respect to the inputs
    ``grads`` ((position, label) pairs), with a fixed random weighting of the output's values
    (a vector–Jacobian product). The ✗ report, or None when they agree."""
    positions = [i for i, _ in grads]
    labels = dict(grads)
    with torch.enable_grad():
        mine_args, mine_leaves = _leaves(args, positions)
        try:
            with _Watch(rules=rules) as watch:
                out = run_mine(*mine_args)
        except _Raised as err:
            return _report(name, False, f"{where}: with inputs that require gradients: {err}")
        if watch.seen:
            return _own_implementation(name, target, watch, rules)
        if not isinstance(out, torch.Tensor) or out.grad_fn is None:
            got = ("a tensor cut off from its inputs (detached?)" if isinstance(out, torch.Tensor)
                   else f"a {type(out).__name__}")
            return _report(name, False, f"{where}: the result must be a tensor that gradients flow through; got {got}",
                           hint="keep it in torch operations — no .item(), float(), numpy or .detach() — so that "
                                "backward() can train the network")
        ref_args, ref_leaves = _leaves(args, positions)
        ref = run_reference(*ref_args)
        rng = torch.Generator().manual_seed(1000 + seed)
        cotangent = torch.randn(ref.shape, generator=rng, dtype=torch.float64).to(ref.dtype)
        flat_mine = [t for i in positions for _, t in mine_leaves[i]]
        flat_ref = [t for i in positions for _, t in ref_leaves[i]]
        try:
            mine_grads = _call(torch.autograd.grad, (out.reshape(ref.shape) * cotangent).sum(), flat_mine,
                               allow_unused=True)
        except _Raised as err:
            return _report(name, False, f"{where}: backward pass: {err}")
        ref_grads = torch.autograd.grad((ref * cotangent).sum(), flat_ref, allow_unused=True)
    names = [f"{labels[i]}{suffix}" for i in positions for suffix, _ in ref_leaves[i]]
    for label, gm, gr, leaf in zip(names, mine_grads, ref_grads, flat_ref):
        gm = torch.zeros_like(leaf) if gm is None else gm
        gr = torch.zeros_like(leaf) if gr is None else gr
        ok, summary, notes = _difference(gm, gr, atol, rtol)
        if not ok:
            return _report(name, False, f"{where}: right value, wrong gradient for {label}: {summary}", notes,
                           hint or "something in the computation isn't differentiable the way the formula "
                           "is (a .detach(), an in-place change, or a constant where an input belongs?)")
    return None


def _run_cases(name: str, target: str, cases, run_mine, run_reference, mistakes_for=None, atol=1e-5, rtol=1e-4,
               generic_hint: str | None = None, check_dtype: bool = True, suffix: str = "", own=(),
               rules: Rules | None = None, grads=(), grad_hint: str | None = None, raise_hint: str | None = None,
               grad_tolerance=(1e-4, 1e-3)) -> bool:
    """Run every case; report the first that fails (with a diagnosis) or the overall pass.
    own: fsth's implementations of the exercise, which the learner's code must not run (rules:
    what else it may or may not run of fsth). grads: (position, label) of the inputs whose
    gradients are compared with fsth's, on every case, once the values agree."""
    worst_kind, max_diff = "exact", 0.0
    for i, (label, args) in enumerate(cases):
        where = f"case {i + 1} of {len(cases)} ({label})"
        reference = run_reference(*args)
        try:
            with _Watch(*own, rules=rules) as watch:
                mine = run_mine(*args)
        except _Raised as err:
            return _report(name, False, f"{where}: {err}", hint=raise_hint)
        if watch.seen:
            return _own_implementation(name, target, watch, rules)
        ok, summary, notes = _difference(mine, reference, atol, rtol, check_dtype)
        if not ok:
            hint = _diagnose(mine, mistakes_for(*args)) if mistakes_for else None
            return _report(name, False, f"{where}: {summary}", notes, hint or generic_hint)
        if summary != "exact":
            worst_kind = "approximate"
            max_diff = max(max_diff, float(np.abs(_numpy(mine).astype(np.float64) - _numpy(reference)).max()))
        if grads:
            problem = _gradient_report(name, where, run_mine, run_reference, args, grads,
                                       Rules(own=tuple(own) + (rules.own if rules else ()),
                                             allow=rules.allow if rules else None,
                                             refuse=rules.refuse if rules else (),
                                             hint=rules.hint if rules else Rules.hint),
                                       target, grad_hint, *grad_tolerance, seed=i)
            if problem is not None:
                return problem
    detail = f" (max difference {max_diff:.2g}; tolerance {atol:g} + {rtol:g}·|fsth|)" if max_diff else ""
    also = f"; gradients for {', '.join(label for _, label in grads)} too" if grads else ""
    return _report(name, True, f"matches {target} — {worst_kind}{detail} on {len(cases)} case(s){also}{suffix}")


def _shape(t) -> str:
    return str(tuple(t.shape))


def _describe(value: np.ndarray) -> str:
    return f"shape {value.shape}, dtype {value.dtype}"

def _check_model(**overrides):
    from ..nn import create

    torch.manual_seed(0)
    return create({**CHECK_MODEL, **overrides}).eval()
