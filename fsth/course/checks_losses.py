"""Checks for notebooks 05–07: the hinge loss, feature matching, L_MCH, personalisation."""
from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .compare import (CHECK_MODEL, Rules, _attempt, _call, _check_model, _diagnose, _difference, _Raised, _report,
                      _require_callable, _run_cases, check)


def _score_cases():
    """Reals and fakes need not be as many (D may see more of one than the other), so an average
    over both together — or a sum where a mean belongs — shows."""
    rng = torch.Generator().manual_seed(4)
    return [("8 real and 5 fake scores around 0", (torch.randn(8, generator=rng) * 0.5, torch.randn(5, generator=rng) * 0.5)),
            ("3 real, 12 fake, large scores", (torch.randn(3, generator=rng) * 4, torch.randn(12, generator=rng) * 4 - 1)),
            ("1 real, 6 fake", (torch.randn(1, generator=rng) * 2, torch.randn(6, generator=rng) * 2)),
            ("confident D, 4 and 4", (torch.full((4,), 2.5), torch.full((4,), -3.0)))]


NOTHING_OF_FSTH = Rules(allow=())  # a loss written in torch: no fsth function may run
MEAN_EACH = ("two means, one per batch: mean relu(1 − D(real)) over the reals plus mean relu(1 + D(fake)) over the "
             "fakes — D may see more of one than of the other, so don't average them together")


@check("hinge_loss")
def check_hinge_loss(fn: Callable) -> bool:
    """``fn(real_score, fake_score) -> scalar``: the discriminator's hinge loss,
    mean relu(1 − D(real)) + mean relu(1 + D(fake)), on raw scores (fsth.losses.hinge_d_loss).
    The cases have as many reals as fakes, or not; values and gradients are compared."""
    from ..losses import hinge_d_loss

    _require_callable("hinge_loss", fn)

    def mistakes(real, fake):
        return [("no sigmoid: the hinge works on raw scores — squashing them into (0, 1) keeps the loss "
                 "from ever reaching 0 and D saturates (a pitfall seen in public re-implementations)",
                 lambda: F.relu(1 - torch.sigmoid(real)).mean() + F.relu(1 + torch.sigmoid(fake)).mean()),
                ("real images should be pushed above +1: relu(1 − real); fakes below −1: relu(1 + fake)",
                 lambda: F.relu(1 + real).mean() + F.relu(1 - fake).mean()),
                ("a loss is minimised: D wants this one small, so no minus sign in front of it",
                 lambda: -(F.relu(1 - real).mean() + F.relu(1 + fake).mean())),
                ("average over the batch (mean), don't sum", lambda: F.relu(1 - real).sum() + F.relu(1 + fake).sum()),
                (MEAN_EACH, lambda: (F.relu(1 - real) + F.relu(1 + fake)).mean()),
                (MEAN_EACH, lambda: 2 * torch.cat([F.relu(1 - real), F.relu(1 + fake)]).mean()),
                (MEAN_EACH, lambda: torch.cat([F.relu(1 - real), F.relu(1 + fake)]).mean()),
                ("the hinge: relu(1 − s) stops pushing once D is confident; without relu the scores "
                 "grow forever", lambda: (1 - real).mean() + (1 + fake).mean())]

    return _run_cases("hinge_loss", "fsth.losses.hinge_d_loss", _score_cases(),
                      lambda r, f: _call(fn, r.clone(), f.clone()), hinge_d_loss, mistakes, atol=1e-5, rtol=1e-5,
                      own=(hinge_d_loss,), rules=NOTHING_OF_FSTH, grads=((0, "real_score"), (1, "fake_score")),
                      grad_tolerance=(1e-5, 1e-4), raise_hint=MEAN_EACH,
                      grad_hint="each score's gradient is −1/N_real (reals below +1) or +1/N_fake (fakes above −1), "
                                "0 past the hinge: keep every part in torch operations on both inputs")


@check("feature_matching")
def check_feature_matching(fn: Callable) -> bool:
    """``fn(fake_features, real_features) -> scalar``: the sum over layers of the mean L1
    difference between D's activations on fakes and on reals, with the real ones detached
    (fsth.losses.feature_matching_loss). Compares values and the gradients reaching the fakes
    (and that none reach the reals)."""
    from ..losses import feature_matching_loss

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
    if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
        got = "a detached tensor" if isinstance(loss, torch.Tensor) else f"a {type(loss).__name__}"
        return _report("feature_matching", False, f"the loss must be a tensor that gradients flow through; got {got}",
                       hint="keep it in torch operations (no .item(), float() or numpy): this loss trains G")
    if any(t.grad is not None and t.grad.abs().sum() > 0 for t in real):
        return _report("feature_matching", False, "the loss sends gradients into the real features",
                       hint="detach the real activations (r.detach()): the generator's loss must not move "
                            "what D sees on real images")
    if isinstance(loss, torch.Tensor) and any(t.grad is None for t in fake):
        return _report("feature_matching", False, "no gradient reaches the fake features",
                       hint="don't detach the fakes: this loss trains the generator through them")
    return _run_cases("feature_matching", "fsth.losses.feature_matching_loss", cases,
                      lambda f, r: _call(fn, [t.clone() for t in f], [t.clone() for t in r]),
                      feature_matching_loss, mistakes, atol=1e-5, rtol=1e-5, own=(feature_matching_loss,),
                      rules=NOTHING_OF_FSTH, grads=((0, "fake_features"), (1, "real_features")),
                      grad_tolerance=(1e-6, 1e-4),
                      grad_hint="the value is right but the gradient isn't: every layer's term must depend on the "
                                "fakes exactly as mean |fake − real| does — no .detach() on part of it, no "
                                "constant stand-in — and the reals not at all (detached)",
                      suffix="; none reach the reals")


@check("embedding_match")
def check_embedding_match(fn: Callable) -> bool:
    """``fn(w_rows (B, D), e_hat (B, D)) -> scalar``: L_MCH, the mean |Wᵢ − êᵢ| (fsth.losses.embedding_match_loss)."""
    from ..losses import embedding_match_loss

    _require_callable("embedding_match", fn)
    rng = torch.Generator().manual_seed(6)
    cases = [(f"B={b}, D={d}", (torch.randn(b, d, generator=rng), torch.randn(b, d, generator=rng).abs()))
             for b, d in ((4, 16), (1, 8))]

    def mistakes(w, e):
        return [("L1: mean |W − ê| — not the squared difference", lambda: F.mse_loss(w, e)),
                ("take the mean over batch and dimensions, not the sum", lambda: (w - e).abs().sum()),
                ("the absolute value: without it positive and negative differences cancel", lambda: (w - e).mean())]

    return _run_cases("embedding_match", "fsth.losses.embedding_match_loss", cases,
                      lambda w, e: _call(fn, w.clone(), e.clone()), embedding_match_loss, mistakes, atol=1e-5, rtol=1e-5,
                      own=(embedding_match_loss,), rules=NOTHING_OF_FSTH, grads=((0, "w_rows"), (1, "e_hat")),
                      grad_tolerance=(1e-6, 1e-4),
                      grad_hint="L_MCH pulls both ways: keep W and ê in the computation (the callers detach one "
                                "side or the other, not the loss)")


# ----------------------------------------------------------------------------------------
# 07: few-shot fine-tuning
# ----------------------------------------------------------------------------------------

PERSONAL = Rules(allow=(), hint="compute ψ′ with the generator's projection (model.generator.projection) and w′ from "
                                "D's shared column (model.discriminator.w0) yourself: the networks' personalize() "
                                "methods are fsth's implementation of this very step")

@check("personalize")
def check_personalize(fn: Callable) -> bool:
    """``fn(model, e_hat (D,)) -> (psi, w)``: the paper's fine-tuning start — the generator's
    AdaIN parameters ψ′ = P·ê (``model.generator.projection``) and the discriminator's
    w′ = w₀ + ê (``model.discriminator.w0``)."""
    from ..train.finetune import personalize

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
        with torch.no_grad():
            failed, result = _attempt(name, f"case {i + 1} of 2", fn, theirs, e_hat.clone(),
                                      own=personalize, target="fsth.train.finetune.personalize", rules=PERSONAL)
        if failed is not None:
            return failed
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
                hint = _diagnose(mine, mistakes) or ("ψ′ is what the generator's projection P makes of ê "
                                                      "(call the module); w′ starts from D's shared column w₀ "
                                                      "and adds ê")
                return _report(name, False, f"case {i + 1} of 2: {label}: {summary}", notes, hint)
    return _report(name, True, "ψ′ = P·ê and w′ = w₀ + ê, as fsth.train.finetune.personalize (2 cases)")
