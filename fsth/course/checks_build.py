"""Checks for the pieces learners build and then train with (notebooks 04–07): ResBlock and
ResBlockUp with AdaIN, the projection score, the generator's and the discriminator's losses, one meta-learning
step and one fine-tuning step. Each compares values *and* gradients (or, for the steps, the
weights after the update) with fsth's on fixed seeds.
"""
from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .compare import (CHECK_MODEL, NETWORKS, PRIMITIVES, Rules, _attempt, _call, _check_model, _diagnose, _difference,
                      _Raised, _report, _require_callable, _run_cases, _shape, _Watch, _own_implementation, check)
from .checks_networks import _learner_block, _with_weights

UP_IN, UP_OUT = 4, 6  # different channel counts, so a ψ split the wrong way round shows
RES_CHANNELS = 5


def _gradient_mismatch(name: str, where: str, pairs, hint: str) -> bool | None:
    """pairs: (what, your gradient, fsth's). The ✗ report for the first that differs, else None."""
    for what, mine, ref in pairs:
        if ref is None and mine is None:
            continue
        ref = torch.zeros_like(mine) if ref is None else ref  # fsth sends none here
        mine = torch.zeros_like(ref) if mine is None else mine
        ok, summary, notes = _difference(mine.to_dense() if mine.is_sparse else mine,
                                         ref.to_dense() if ref.is_sparse else ref, 1e-4, 1e-3)
        if not ok:
            return _report(name, False, f"{where}: right values, wrong gradient for {what}: {summary}", notes, hint)
    return None


def _no_power_iteration(model: nn.Module) -> nn.Module:
    """Spectral norm refines its estimate of σ on every training-mode forward; two steps that call
    D a different number of times would drift apart for that reason alone. Freeze it for the check."""
    for module in model.modules():
        if hasattr(module, "n_power_iterations"):
            module.n_power_iterations = 0
    return model


# ----------------------------------------------------------------------------------------
# 04: ResBlockUp with AdaIN
# ----------------------------------------------------------------------------------------

def _reference_up(convs: dict) -> nn.Module:
    from ..nn.blocks import ResBlockUp

    return _with_weights(ResBlockUp(UP_IN, UP_OUT).eval(), convs)


@check("ResBlockUp")
def check_resblock_up(cls: Callable) -> bool:
    """``cls(cin, cout)``, called as ``block(x, psi)``: the generator's upsampling block — AdaIN →
    ReLU → nearest upsampling ×2 → conv1 (3×3) → AdaIN → ReLU → conv2 (3×3), plus skip (1×1) of the
    upsampled input. ψ holds the first AdaIN's 2·cin numbers, then the second's 2·cout. The check
    copies your conv1, conv2 and skip weights into fsth's ResBlockUp and compares outputs and the
    gradients with respect to x and ψ."""
    from ..nn.blocks import AdaIN, ResBlockUp

    _require_callable("ResBlockUp", cls)
    name = "ResBlockUp"
    failed, block, convs = _learner_block(name, cls, UP_IN, UP_OUT)
    if failed is not None:
        return failed
    reference = _reference_up(convs)
    rng = torch.Generator().manual_seed(11)
    cases = []
    for b, h, w in ((2, 5, 5), (1, 4, 6)):
        x = torch.randn(b, UP_IN, h, w, generator=rng) * 2 + 0.5
        psi = torch.randn(b, 2 * UP_IN + 2 * UP_OUT, generator=rng)
        cases.append((f"x {_shape(x)}, psi {_shape(psi)}", (x, psi)))
    (w1, b1), (w2, b2), (ws, bs) = convs["conv1"], convs["conv2"], convs["skip"]

    def functional(x, psi, order=(0, 1), mode="nearest", use_psi=True, up_first=True, preact=True):
        parts = psi.split([2 * UP_IN, 2 * UP_OUT] if order == (0, 1) else [2 * UP_OUT, 2 * UP_IN], dim=1)
        p1, p2 = (parts[0], parts[1]) if order == (0, 1) else (parts[1], parts[0])

        def norm(t, p):
            t = F.instance_norm(t, eps=1e-5)
            scale, bias = p[:, :, None, None].chunk(2, dim=1)
            return t * scale + bias if use_psi else t

        def up(t):
            return F.interpolate(t, scale_factor=2, mode=mode)
        h = norm(x, p1)
        h = F.relu(h) if preact else h
        if up_first:
            h = up(h)
        h = F.conv2d(h, w1, b1, padding=1)
        h = F.conv2d(F.relu(norm(h, p2)), w2, b2, padding=1)
        return (h if up_first else up(h)) + F.conv2d(up(x), ws, bs)

    def mistakes(x, psi):
        return [("ψ is read in the order the AdaINs are met: first 2·cin numbers (scales, then biases) for "
                 "the AdaIN on the input, which has cin channels; the remaining 2·cout for the one after conv1",
                 lambda: functional(x, psi, order=(1, 0))),
                ("ψ is ignored: normalising alone makes every person the same; AdaIN's scale and bias are "
                 "where the identity enters the generator", lambda: functional(x, psi, use_psi=False)),
                ("upsample before the convolutions (nearest neighbour): they then work at the new resolution "
                 "and smooth away the 2×2 blocks that upsampling leaves", lambda: functional(x, psi, up_first=False)),
                ("nearest-neighbour upsampling (mode='nearest'), as fsth: bilinear blurs the landmark edges",
                 lambda: functional(x, psi, mode="bilinear")),
                ("pre-activation: AdaIN, then a ReLU, then upsample and conv1", lambda: functional(x, psi, preact=False))]

    printed = io.StringIO()
    with torch.no_grad(), contextlib.redirect_stdout(printed):
        ok = _run_cases(name, "fsth.nn.ResBlockUp (with your weights)", cases,
                        lambda x, psi: _call(block, x.clone(), psi.clone()), reference, mistakes, atol=1e-4, rtol=1e-4,
                        own=(ResBlockUp, AdaIN), rules=Rules(allow=()),
                        generic_hint="two AdaIN–ReLU–conv stages with the upsampling between the first ReLU and "
                                     "conv1; the skip path only upsamples and changes channels")
    if not ok:
        print(printed.getvalue(), end="")
        return False
    x, psi = cases[0][1]
    mine_in = [x.clone().requires_grad_(True), psi.clone().requires_grad_(True)]
    ref_in = [x.clone().requires_grad_(True), psi.clone().requires_grad_(True)]
    cotangent = torch.randn(x.shape[0], UP_OUT, 2 * x.shape[2], 2 * x.shape[3], generator=rng)
    try:
        with _Watch(ResBlockUp, AdaIN, rules=Rules(allow=())) as watch:
            (_call(block, *mine_in) * cotangent).sum().backward()
    except _Raised as err:
        return _report(name, False, f"backward pass: {err}")
    if watch.seen:
        return _own_implementation(name, "fsth.nn.ResBlockUp", watch)
    (reference(*ref_in) * cotangent).sum().backward()
    problem = _gradient_mismatch(name, "case 1", [("x", mine_in[0].grad, ref_in[0].grad),
                                                  ("ψ", mine_in[1].grad, ref_in[1].grad)],
                                 "keep every step in torch operations on x and ψ (no .detach(), numpy or "
                                 "in-place changes of the inputs), so G and P can learn through the block")
    if problem is not None:
        return problem
    return _report(name, True, printed.getvalue().strip().split(": ", 1)[1] + "; gradients for x and ψ match too")


# ----------------------------------------------------------------------------------------
# 04: the bottleneck's ResBlock with AdaIN
# ----------------------------------------------------------------------------------------

@check("ResBlock")
def check_resblock(cls: Callable) -> bool:
    """``cls(channels)``, called as ``block(x, psi)``: the generator's bottleneck block at constant
    resolution — AdaIN → ReLU → conv1 (3×3) → AdaIN → ReLU → conv2 (3×3), plus the input itself.
    ψ (B, 4·channels) holds the first AdaIN's 2·channels numbers, then the second's. The check copies
    your conv1 and conv2 weights into fsth's ResBlock and compares outputs and the gradients with
    respect to x and ψ."""
    from ..nn.blocks import AdaIN, ResBlock

    _require_callable("ResBlock", cls)
    name = "ResBlock"
    c = RES_CHANNELS
    failed, block, convs = _learner_block(name, cls, c, c, skip=False)
    if failed is not None:
        return failed
    reference = _with_weights(ResBlock(c).eval(), convs)
    rng = torch.Generator().manual_seed(14)
    cases = []
    for b, h, w in ((2, 6, 6), (1, 4, 7)):
        x = torch.randn(b, c, h, w, generator=rng) * 2 + 0.5
        psi = torch.randn(b, 4 * c, generator=rng)
        cases.append((f"x {_shape(x)}, psi {_shape(psi)}", (x, psi)))
    (w1, b1), (w2, b2) = convs["conv1"], convs["conv2"]

    def functional(x, psi, swap=False, use_psi=True, residual=True, preact=True):
        p1, p2 = psi.chunk(2, dim=1)
        if swap:
            p1, p2 = p2, p1

        def norm(t, p):
            t = F.instance_norm(t, eps=1e-5)
            scale, bias = p[:, :, None, None].chunk(2, dim=1)
            return t * scale + bias if use_psi else t
        if preact:
            h = F.conv2d(F.relu(norm(x, p1)), w1, b1, padding=1)
            h = F.conv2d(F.relu(norm(h, p2)), w2, b2, padding=1)
        else:
            h = F.relu(norm(F.conv2d(x, w1, b1, padding=1), p1))
            h = F.relu(norm(F.conv2d(h, w2, b2, padding=1), p2))
        return x + h if residual else h

    def mistakes(x, psi):
        return [("ψ is read in the order the AdaINs are met: the first 2·channels numbers for the AdaIN on the "
                 "input, the rest for the one after conv1", lambda: functional(x, psi, swap=True)),
                ("ψ is ignored: normalising alone makes every person the same; AdaIN's scale and bias are "
                 "where the identity enters the generator", lambda: functional(x, psi, use_psi=False)),
                ("residual: return x + h, the input plus what the two convolutions add", lambda: functional(
                    x, psi, residual=False)),
                ("pre-activation: AdaIN, then ReLU, then the convolution (twice)",
                 lambda: functional(x, psi, preact=False))]

    with torch.no_grad():
        return _run_cases(name, "fsth.nn.ResBlock (with your weights)", cases,
                          lambda x, psi: _call(block, x.clone(), psi.clone()), reference, mistakes, atol=1e-4,
                          rtol=1e-4, own=(ResBlock, AdaIN), rules=Rules(allow=()), grads=((0, "x"), (1, "ψ")),
                          grad_hint="keep every step in torch operations on x and ψ (no .detach(), numpy or "
                                    "in-place changes of the inputs), so G and P can learn through the block",
                          generic_hint="x + conv2(ReLU(AdaIN(conv1(ReLU(AdaIN(x, ψ₁))), ψ₂))): two AdaIN–ReLU–conv "
                                       "stages at the same resolution, and the input added back")


# ----------------------------------------------------------------------------------------
# 05: the projection score
# ----------------------------------------------------------------------------------------

@check("realism_score")
def check_realism_score(fn: Callable) -> bool:
    """``fn(v (B, D), w_rows (B, D), w0 (D,), b ()) -> (B,)``: the projection discriminator's
    r = V(x, y)ᵀ(Wᵢ + w₀) + b, one score per image (fsth.nn.Discriminator.forward). Compares the
    scores and the gradients reaching v, W, w₀ and b."""
    from ..nn.discriminator import Discriminator

    _require_callable("realism_score", fn)
    name = "realism_score"
    D = _check_model().discriminator.eval()
    dim = CHECK_MODEL["embed_dim"]
    rng = torch.Generator().manual_seed(12)
    with torch.no_grad():
        D.w0.add_(torch.randn(dim, generator=rng))  # a w₀ and b large enough to matter
        D.b.fill_(0.7)
    for i, videos in enumerate(([0, 2, 1, 2], [1])):
        video = torch.tensor(videos)
        v = torch.rand(len(videos), dim, generator=rng) * 3
        cotangent = torch.randn(len(videos), generator=rng)
        D.zero_grad(set_to_none=True)
        v_ref = v.clone().requires_grad_(True)
        D.features = lambda images, landmarks, v=v_ref: (v, [])  # fsth's forward, with this V(x, y)
        try:
            expected, _ = D(torch.zeros(len(videos), 3, 1, 1), None, video)
        finally:
            del D.features
        (expected * cotangent).sum().backward()
        ref_grads = [v_ref.grad, D.W.weight.grad.to_dense(), D.w0.grad, D.b.grad]
        expected = expected.detach()
        D.zero_grad(set_to_none=True)
        v_mine = v.clone().requires_grad_(True)
        where = f"case {i + 1} of 2 (B={len(videos)})"
        failed, mine = _attempt(name, where, fn, v_mine, D.W(video), D.w0, D.b, own=Discriminator.forward,
                                target="fsth.nn.Discriminator", rules=Rules(allow=()))
        if failed is not None:
            return failed
        ok, summary, notes = _difference(mine, expected, 1e-4, 1e-4)
        if not ok:
            w_rows = D.W(video).detach()
            vv = v.detach()
            known = [("w₀ is missing: the score uses Wᵢ + w₀ (the video's own column plus the shared one)",
                      lambda: (vv * w_rows).sum(1) + D.b.detach()),
                     ("b is missing: add the shared bias after the dot product", lambda: (vv * (w_rows + D.w0.detach())).sum(1)),
                     ("a dot product *sums* over the embedding dimension; a mean divides it by D",
                      lambda: (vv * (w_rows + D.w0.detach())).mean(1) + D.b.detach())]
            hint = _diagnose(mine, known) or ("one score per image: multiply v and (Wᵢ + w₀) element by element "
                                              "and sum over the embedding dimension (dim 1), then add b — a "
                                              "matrix product v @ wᵀ would score every image against every video, "
                                              "and a sum over dim 0 adds up the batch")
            return _report(name, False, f"{where}: {summary}", notes, hint)
        if not isinstance(mine, torch.Tensor) or mine.grad_fn is None:
            return _report(name, False, f"{where}: the score must be a tensor that gradients flow through",
                           hint="stay in torch operations: D learns V, W, w₀ and b through this score")
        (mine * cotangent).sum().backward()
        problem = _gradient_mismatch(name, where, [("v", v_mine.grad, ref_grads[0]),
                                                   ("W", D.W.weight.grad, ref_grads[1]),
                                                   ("w₀", D.w0.grad, ref_grads[2]), ("b", D.b.grad, ref_grads[3])],
                                     "use the tensors you are given (no .detach() or copies): D trains through them")
        if problem is not None:
            return problem
    return _report(name, True, "matches fsth.nn.Discriminator's score, and the gradients reaching v, W, w₀ and b "
                               "(2 cases)")


# ----------------------------------------------------------------------------------------
# 06: the losses and one meta-learning step
# ----------------------------------------------------------------------------------------

def _episode_batch(b: int = 2, k: int = 2, seed: int = 13) -> dict:
    size = CHECK_MODEL["image_size"]
    rng = torch.Generator().manual_seed(seed)

    def images(*shape):
        return torch.rand(*shape, 3, size, size, generator=rng) * 2 - 1
    return {"shots": images(b, k), "shot_landmarks": images(b, k), "target": images(b), "target_landmarks": images(b),
            "video": torch.tensor([0, 2, 1][:b])}


def _loss_dict(name: str, where: str, mine, expected: dict, term_hints: dict) -> bool | None:
    """Compare a dict of loss terms: the ✗ report, or None when all agree."""
    if not isinstance(mine, dict):
        return _report(name, False, f"{where}: return a dict of loss terms ({', '.join(expected)}), "
                                    f"got {type(mine).__name__}")
    missing = [k for k in expected if k not in mine]
    if missing:
        return _report(name, False, f"{where}: no {', '.join(repr(k) for k in missing)} in your dict "
                                    f"(fsth has {', '.join(expected)})")
    extra = [k for k in mine if k not in expected]
    if extra:
        return _report(name, False, f"{where}: {', '.join(repr(k) for k in extra)} should not be there "
                                    f"(fsth has {', '.join(expected)})",
                       hint="L_MCH needs a video's column Wᵢ: there is none when fine-tuning (video None)"
                       if "embedding_match" in extra else None)
    for key, ref in expected.items():
        value = mine[key]
        if not isinstance(value, torch.Tensor) or value.grad_fn is None:
            got = "a detached tensor" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"
            return _report(name, False, f"{where}: {key!r} must be a tensor that gradients flow through; got {got}",
                           hint="keep it in torch operations (no .item(), float() or numpy): it trains the network")
        ok, summary, notes = _difference(value.detach().reshape(()) if value.numel() == 1 else value.detach(),
                                         ref.detach(), 1e-4, 1e-4)
        if not ok:
            hint = _diagnose(value, term_hints.get(key, []))
            return _report(name, False, f"{where}: {key!r}: {summary}", notes, hint or term_hints.get("_" + key))
    return None


LOSS_RULES = Rules(allow=NETWORKS + PRIMITIVES, hint="write the terms yourself: D's forward pass and features, "
                   "torch operations and earlier lessons' losses are fine; fsth.losses.generator_terms / "
                   "discriminator_terms and fsth.train are what the check compares with")


@check("generator_loss")
def check_generator_loss(fn: Callable) -> bool:
    """``fn(D, fake, target, target_landmarks, video, w_rows, e_hat, weights) -> dict``: the generator
    side with D frozen — ``pixel`` (L1), ``adversarial`` (−D(x̂)), ``feature_matching`` and
    ``embedding_match`` (L_MCH, only when ``w_rows`` is given), each times its weight in ``weights``
    (fsth.losses.generator_terms). Compares every term and the gradients reaching x̂, ê and Wᵢ."""
    from ..losses import LossWeights, generator_terms

    _require_callable("generator_loss", fn)
    name = "generator_loss"
    model = _check_model()
    D = model.discriminator.eval().requires_grad_(False)
    weights = LossWeights()
    batch = _episode_batch(b=3)
    rng = torch.Generator().manual_seed(14)
    e_hat = torch.rand(3, CHECK_MODEL["embed_dim"], generator=rng)
    fake = torch.tanh(torch.randn(3, 3, CHECK_MODEL["image_size"], CHECK_MODEL["image_size"], generator=rng))
    personal = copy.deepcopy(D)
    personal.personalize(e_hat[0])
    cases = [("meta-learning: D with W, L_MCH on", D, batch["video"], D.W(batch["video"]).detach(), e_hat),
             ("fine-tuning: D′ personalised, no video, no L_MCH", personal, None, None, None)]
    def leaf(t):
        return None if t is None else t.clone().requires_grad_(True)

    for i, (label, disc, video, w_rows, e) in enumerate(cases):
        where = f"case {i + 1} of 2 ({label})"
        ref_fake, ref_e, ref_w = leaf(fake), leaf(e), leaf(w_rows)
        expected = generator_terms(disc, ref_fake, batch["target"], batch["target_landmarks"], weights, video=video,
                                   w_rows=ref_w, e_hat=ref_e)
        sum(expected.values()).backward()
        my_fake, my_e, my_w = leaf(fake), leaf(e), leaf(w_rows)
        failed, mine = _attempt(name, where, fn, disc, my_fake, batch["target"], batch["target_landmarks"], video,
                                my_w, my_e, weights, own=generator_terms, target="fsth.losses.generator_terms",
                                rules=LOSS_RULES)
        if failed is not None:
            return failed
        with torch.no_grad():
            score, _ = disc(fake, batch["target_landmarks"], video)
            pixel = (fake - batch["target"]).abs().mean()
        hints = {"adversarial": [("−D(x̂): the generator wants D's score *high*, so its loss is minus the score; "
                                  "with +D(x̂) it would learn to look fake", lambda: weights.adversarial * score.mean()),
                                 ("times its weight (weights.adversarial)", lambda: -score.mean())],
                 "pixel": [("L1: the mean absolute difference, not the squared one",
                            lambda: weights.pixel * F.mse_loss(fake, batch["target"])),
                           ("times its weight (weights.pixel)", lambda: pixel)],
                 "_feature_matching": "D's activations on the fake vs on the real target (notebook 05's feature "
                                      "matching), times weights.feature_matching",
                 "_embedding_match": "notebook 06's L_MCH, mean |Wᵢ − êᵢ|, times weights.embedding_match",
                 "_pixel": "mean |x̂ − x_t| times weights.pixel", "_adversarial": "−mean D(x̂) times weights.adversarial"}
        problem = _loss_dict(name, where, mine, expected, hints)
        if problem is not None:
            return problem
        try:
            _call(sum(mine.values()).backward)
        except _Raised as err:
            return _report(name, False, f"{where}: backward pass: {err}")
        pairs = [("x̂", my_fake.grad, ref_fake.grad)] + ([("ê", my_e.grad, ref_e.grad)] if e is not None else [])
        problem = _gradient_mismatch(name, where, pairs,
                                     "the real features are a fixed target (detached) and Wᵢ is detached in G's "
                                     "L_MCH; everything that depends on x̂ and ê must stay differentiable")
        if problem is None and w_rows is not None:
            problem = _gradient_mismatch(name, where, [("Wᵢ", my_w.grad, ref_w.grad)],
                                         "detach Wᵢ in the generator's L_MCH (w_rows.detach()): in G's step only ê "
                                         "moves towards Wᵢ; Wᵢ moves in D's step")
        if problem is not None:
            return problem
    return _report(name, True, "every term matches fsth.losses.generator_terms, and so do the gradients reaching "
                               "x̂, ê and Wᵢ (with and without L_MCH)")


@check("discriminator_loss")
def check_discriminator_loss(fn: Callable) -> bool:
    """``fn(D, target, fake, target_landmarks, video, e_hat, weights) -> dict``: the discriminator
    side — ``d_hinge`` on the real target and the *detached* fake, and ``d_embedding_match``
    (weights.embedding_match · mean |Wᵢ − ê|, ê detached: only Wᵢ moves). Compares the terms and
    the gradients reaching D's weights; none may reach x̂ or ê."""
    from ..losses import LossWeights, discriminator_terms, embedding_match_loss

    _require_callable("discriminator_loss", fn)
    name = "discriminator_loss"
    weights = LossWeights()
    batch = _episode_batch(b=3, seed=15)
    rng = torch.Generator().manual_seed(16)
    e_hat = torch.rand(3, CHECK_MODEL["embed_dim"], generator=rng)
    fake = torch.tanh(torch.randn(3, 3, CHECK_MODEL["image_size"], CHECK_MODEL["image_size"], generator=rng))
    ref_D = _check_model().discriminator.eval()
    my_D = copy.deepcopy(ref_D)
    video, target, lms = batch["video"], batch["target"], batch["target_landmarks"]
    expected = discriminator_terms(ref_D, target, fake.clone().requires_grad_(True), lms, video)
    expected["d_embedding_match"] = weights.embedding_match * embedding_match_loss(ref_D.W(video), e_hat)
    sum(expected.values()).backward()
    my_fake, my_e = fake.clone().requires_grad_(True), e_hat.clone().requires_grad_(True)
    failed, mine = _attempt(name, "case 1 of 1", fn, my_D, target, my_fake, lms, video, my_e, weights,
                            own=discriminator_terms, target="fsth.losses.discriminator_terms", rules=LOSS_RULES)
    if failed is not None:
        return failed
    with torch.no_grad():
        real_s, fake_s = ref_D(target, lms, video)[0], ref_D(fake, lms, video)[0]
    hinge = F.relu(1 - real_s).mean() + F.relu(1 + fake_s).mean()
    hints = {"d_hinge": [("a loss is minimised: D wants the hinge small, so no minus sign in front of it",
                          lambda: -hinge),
                         ("real images should be pushed above +1: relu(1 − real); fakes below −1: relu(1 + fake)",
                          lambda: F.relu(1 + real_s).mean() + F.relu(1 - fake_s).mean())],
             "_d_hinge": "notebook 05's hinge: mean relu(1 − D(real)) + mean relu(1 + D(fake)), raw scores",
             "_d_embedding_match": "weights.embedding_match · mean |Wᵢ − ê| with D's rows W(video)"}
    problem = _loss_dict(name, "case 1 of 1", mine, expected, hints)
    if problem is not None:
        return problem
    try:
        _call(sum(mine.values()).backward)
    except _Raised as err:
        return _report(name, False, f"backward pass: {err}")
    if my_fake.grad is not None and my_fake.grad.abs().sum() > 0:
        return _report(name, False, "gradients reach the fake images",
                       hint="detach x̂ (fake.detach()): D's step must not change the generator, whose turn is over")
    if my_e.grad is not None and my_e.grad.abs().sum() > 0:
        return _report(name, False, "gradients reach ê in D's L_MCH",
                       hint="detach ê here: in D's step only Wᵢ moves towards ê; E moved towards Wᵢ in G's step")
    ref_grads = dict(ref_D.named_parameters())
    pairs = [(f"D.{n}", p.grad, ref_grads[n].grad) for n, p in my_D.named_parameters()]
    problem = _gradient_mismatch(name, "case 1 of 1", pairs,
                                 "score the real target and the fake with their own landmark images and video rows")
    if problem is not None:
        return problem
    return _report(name, True, "d_hinge and d_embedding_match match fsth's, and so do the gradients reaching D's "
                               "weights (none reach x̂ or ê)")


LR = 0.01  # small enough that two steps stay well-conditioned (lr 1 wrecks the tiny networks)


class _Optimiser(torch.optim.SGD):
    """The checks' optimisers: SGD (lr :data:`LR`, momentum 0.5), which notes what a step did with
    it. A first step moves each weight by exactly lr × its gradient, and the checks compare how far
    each weight moved ÷ lr — a gradient, with a gradient's tolerance. (Adam's first step moves every
    weight by ±lr whatever its gradient's size, so a gradient that rounds to 0 in one order of
    operations and to 1e-8 in another would differ by a whole lr.) The second step carries the first
    one's momentum, so an optimiser of your own — or a new one each step — shows."""

    def __init__(self, params, name: str, log: list):
        super().__init__(list(params), lr=LR, momentum=0.5)
        self.label, self.log = name, log

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.log.append(("zero_grad", self.label))
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        self.log.append(("step", self.label))
        return super().step(closure)


def _optimisers_like(optimizer: torch.optim.Optimizer, name: str, log: list) -> _Optimiser:
    return _Optimiser([p for group in optimizer.param_groups for p in group["params"]], name, log)


def _used(model: nn.Module, seed: int) -> None:
    """A used state: every weight's .grad holds what a previous backward would have left there."""
    rng = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=rng) * 0.1


def _grad_hooks(groups: dict, log: list) -> list:
    """Note in ``log`` every time a backward reaches a group of weights (("grad", group))."""
    handles = []
    for group, params in groups.items():
        for p in params:
            handles.append(p.register_hook(lambda grad, group=group: log.append(("grad", group))))
    return handles


def _step_diagnosis(events: list, g_opt: str, d_opts: tuple[str, ...], g_what: str, d_what: str) -> dict:
    """What one step did with the optimisers and the gradients, read from the events it left:
    ``frozen`` / ``detached`` — (problem, hint) when D learned from G's losses, or G's weights got
    D's gradients (wrong even when the weights agree); ``unstepped`` / ``unzeroed`` — the handed
    optimisers never stepped, or stepped without zero_grad() before."""
    found: dict = {"unstepped": set(), "unzeroed": set()}
    steps = [i for i, e in enumerate(events) if e == ("step", g_opt)]
    g_stepped = steps[0] if steps else 0  # no step of the handed optimiser: no phases to tell apart
    if any(e == ("grad", "D") for e in events[:g_stepped]):
        found["frozen"] = (f"{d_what}'s weights received gradients before {g_opt}.step(): it learned from the "
                           "generator's losses",
                           f"freeze {d_what} for the generator's step ({d_what}.requires_grad_(False)) and unfreeze it "
                           "for its own; update the generator first, then D, as fsth does")
    if steps and any(e == ("grad", "G") for e in events[g_stepped + 1:]):
        found["detached"] = (f"gradients reached {g_what} in D's step",
                             "D's losses must see the fake detached (fake.detach()): its turn must not change the "
                             "generator (and the backward into it is wasted)")
    for opt in (g_opt, *d_opts):
        done = [e for e in events if e[1] == opt]
        if ("step", opt) not in done:
            found["unstepped"].add(opt)
        elif ("zero_grad", opt) not in done[:done.index(("step", opt))]:
            found["unzeroed"].add(opt)
    return found


def _step_hint(found: dict, network: str, moved: bool, optimiser: dict, hints: dict) -> str | None:
    """The hint for a weight of ``network`` that moved differently from fsth's."""
    opt = optimiser.get(network)
    if not moved:
        return hints.get((network, False)) or hints.get(network)
    if opt in found["unstepped"]:
        return (f"{opt}.step() was never called, yet the weights moved: use the optimisers you are given — they "
                "carry their state (momentum, Adam's moments) from step to step")
    parts = []
    if "frozen" in found and network in ("discriminator", "W"):
        parts.append(found["frozen"][1])
    if "detached" in found and network not in ("discriminator", "W"):
        parts.append(found["detached"][1])
    if opt in found["unzeroed"]:
        parts.append(f"{opt}.zero_grad() before the backward it applies: .grad adds up, so what the previous step "
                     "(or the other network's loss) left there would count again")
    return "; also, ".join(parts) or hints.get(network)


def _parameters_after(name: str, where: str, mine: nn.Module, ref: nn.Module, before: dict, ref_before: dict,
                      hint_for) -> bool | None:
    """Compare how far each weight moved in the learner's step and in fsth's (÷ lr: an update, so
    the tolerance is a gradient's: 1e-4 + 1e-3 × |fsth's|). ``hint_for(network, moved)``."""
    ref_params = dict(ref.named_parameters())
    for key, p in mine.named_parameters():
        moved_by = p.detach() - before[key]
        ok, summary, notes = _difference(moved_by / LR, (ref_params[key].detach() - ref_before[key]) / LR, 1e-4, 1e-3)
        if not ok:
            moved = bool(moved_by.abs().max() > 0)
            network = key.split(".")[0] if not key.startswith("discriminator.W.") else "W"
            return _report(name, False, f"{where}: {key} moved differently from fsth's step (update ÷ lr): {summary}"
                           + ("" if moved else " (your step left it unchanged)"), notes, hint_for(network, moved))
    return None


def _snapshot(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


STEPS = 2  # steps run by the step checks, from a used state: the second starts where the first left off


def _backward_twice(message: str) -> str | None:
    """The hint for a step whose D loss backpropagated into the generator after its update."""
    if "inplace operation" in message or "backward through the graph a second time" in message:
        return ("D's losses must see the fake detached (fake.detach()): once opt_g.step() has changed G, a backward "
                "from D's loss into G's graph fails — and D's turn must not train G anyway")
    return None
META_RULES = Rules(allow=NETWORKS + PRIMITIVES, refuse=("*.personalize",),
                   hint="write the step yourself: the networks (model.embedder, .generator, .discriminator), torch "
                        "and your own losses are fine; fsth.train (MetaStep and its parts, apply_update) and "
                        "fsth.losses.generator_terms / discriminator_terms are what the check compares with")


@check("meta_step")
def check_meta_step(fn: Callable) -> bool:
    """``fn(model, batch, opt_g, opt_d, opt_w, weights) -> dict``: one meta-learning step — ê from
    the K shots, x̂ = G(y_t, ê), E and G updated from the generator's losses with D frozen, then D
    (``opt_d``: its dense weights; ``opt_w``: its rows of W) from the discriminator's losses on the
    detached x̂. The check runs fsth's MetaStep from the same weights with the same optimisers (SGD
    with momentum, :class:`_Optimiser`), for two steps from a used state (``.grad`` already full),
    and compares how far every weight moved in each step (÷ lr: a gradient), and the losses; D must
    not receive gradients in G's step, nor E and G in D's."""
    from ..losses import LossWeights
    from ..train.step import MetaStep, OptimConfig

    _require_callable("meta_step", fn)
    name = "meta_step"
    weights = LossWeights()
    optim = OptimConfig(amp="none", channels_last=False)
    start = _no_power_iteration(_check_model())
    ref, mine = copy.deepcopy(start), copy.deepcopy(start)
    _used(ref, 31)
    _used(mine, 31)
    ref_step, step = MetaStep(ref, None, weights, optim), MetaStep(mine, None, weights, optim)
    ref_log, log = [], []
    ref_step.opt_g, ref_step.opt_d, ref_step.opt_w = (_optimisers_like(o, n, ref_log) for o, n in (
        (ref_step.opt_g, "opt_g"), (ref_step.opt_d, "opt_d"), (ref_step.opt_w, "opt_w")))
    opts = [_optimisers_like(o, n, log) for o, n in ((step.opt_g, "opt_g"), (step.opt_d, "opt_d"), (step.opt_w, "opt_w"))]
    E, G, D = mine.embedder, mine.generator, mine.discriminator
    handles = _grad_hooks({"G": list(E.parameters()) + list(G.parameters()), "D": list(D.parameters())}, log)
    hints = {("embedder", False): "E never moved: opt_g holds E and G — step it after the generator's backward",
             ("generator", False): "G never moved: opt_g.step() after the generator's backward",
             "embedder": "E and G are updated once, from the generator's losses (L_MCH included), with D frozen "
                         "(D.requires_grad_(False)) and fresh gradients (opt_g.zero_grad())",
             "generator": "E and G are updated once, from the generator's losses, with D frozen and fresh gradients",
             ("W", False): "the rows of W have their own optimiser with sparse gradients: opt_w.step() next to opt_d",
             "W": "Wᵢ moves in D's step only, from d_embedding_match (with ê detached)",
             ("discriminator", False): "D never moved: opt_d.step() after the discriminator's backward",
             "discriminator": "D is updated after G, from the hinge on the real target and the *detached* fake "
                              "(plus d_embedding_match), with fresh gradients (opt_d.zero_grad()) — and D must not "
                              "have learned anything in G's step (freeze it: D.requires_grad_(False))"}
    try:
        for number in range(1, STEPS + 1):
            batch = _episode_batch(seed=13 + 10 * (number - 1))
            ref_before = _snapshot(ref)
            expected = ref_step(batch)
            mine.train()
            before, begin = _snapshot(mine), len(log)
            where = f"step {number} of {STEPS}" + (" (from a used state: .grad holds the last step's gradients)"
                                                  if number == 1 else " (the first matched; this one starts where it "
                                                  "left .grad and the optimisers' momentum)")
            failed, losses = _attempt(name, where, fn, mine, {k: v.clone() for k, v in batch.items()}, *opts, weights,
                                      own=MetaStep.__call__, target="fsth.train.step.MetaStep", rules=META_RULES,
                                      raise_hint=_backward_twice)
            if failed is not None:
                return failed
            found = _step_diagnosis(log[begin:], "opt_g", ("opt_d", "opt_w"), "E and G", "D")
            problem = _parameters_after(name, where, mine, ref, before, ref_before, lambda network, moved: _step_hint(
                found, network, moved, {"embedder": "opt_g", "generator": "opt_g", "discriminator": "opt_d",
                                        "W": "opt_w"}, hints))
            if problem is not None:
                return problem
            for key in ("frozen", "detached"):
                if key in found:
                    return _report(name, False, f"{where}: the weights match, but {found[key][0]}", hint=found[key][1])
            if isinstance(losses, dict):
                for key, value in expected.items():
                    if key in losses and abs(float(torch.as_tensor(losses[key]).detach()) - value) > \
                            1e-4 + 1e-3 * abs(value):
                        return _report(name, False, f"{where}: the weights match, but your {key!r} is "
                                                    f"{float(losses[key]):.5g}, fsth's {value:.5g}",
                                       hint="return the losses the step used")
    finally:
        for handle in handles:
            handle.remove()
    return _report(name, True, f"every weight of E, G and D (W included) matches fsth's MetaStep after each of "
                               f"{STEPS} steps from a used state")


# ----------------------------------------------------------------------------------------
# 07: one fine-tuning step
# ----------------------------------------------------------------------------------------

FINETUNE_RULES = Rules(allow=NETWORKS + ("fsth.losses:*",), refuse=("*.personalize",),
                       hint="write the update yourself — the networks, torch and fsth.losses' terms are fine; "
                            "fsth.train (finetune, apply_update) is what the check compares with")


@check("finetune_step")
def check_finetune_step(fn: Callable) -> bool:
    """``fn(make_fake, D, target, target_landmarks, opt_g, opt_d, weights) -> dict``: one fine-tuning
    step of the personalised G′ and D′ — ``fake = make_fake()`` (G′ draws the shots' landmarks),
    G′ updated from the generator's losses (no L_MCH: D′ has no video index) with D′ frozen, then D′
    from the hinge on the shots and the detached fakes. Compared weight by weight with fsth's
    fine-tuning update (fsth.losses.generator_terms / discriminator_terms, fsth.train.step.apply_update)
    for two steps from a used state, with the checks' optimisers (SGD with momentum, :class:`_Optimiser`)."""
    from ..losses import LossWeights, discriminator_terms, generator_terms
    from ..train.finetune import finetune
    from ..train.step import apply_update

    _require_callable("finetune_step", fn)
    name = "finetune_step"
    weights = LossWeights()
    start = _no_power_iteration(_check_model())
    rng = torch.Generator().manual_seed(17)
    e_hat = torch.rand(CHECK_MODEL["embed_dim"], generator=rng)
    start.generator.personalize(e_hat)
    start.discriminator.personalize(e_hat)
    size = CHECK_MODEL["image_size"]
    targets = [torch.rand(3, 3, size, size, generator=rng) * 2 - 1 for _ in range(STEPS)]
    drawn = [torch.rand(3, 3, size, size, generator=rng) * 2 - 1 for _ in range(STEPS)]

    def optimizers(model, log):
        G, D = model.generator, model.discriminator
        dense = [p for n, p in D.named_parameters() if not n.startswith("W.")]
        return _Optimiser(G.parameters(), "opt_g", log), _Optimiser(dense, "opt_d", log), dense

    ref, mine = copy.deepcopy(start).train(), copy.deepcopy(start).train()
    _used(ref, 32)
    _used(mine, 32)
    opt_g, opt_d, dense = optimizers(ref, [])
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    log: list = []
    my_opt_g, my_opt_d, my_dense = optimizers(mine, log)
    handles = _grad_hooks({"G": list(mine.generator.parameters()), "D": my_dense}, log)
    hints = {("generator", False): "G′ never moved: opt_g.step() after the generator's backward",
             "generator": "G′ is updated from the generator's losses without L_MCH (D′(x̂, y) has no video index), "
                          "with D′ frozen and fresh gradients (opt_g.zero_grad())",
             ("discriminator", False): "D′ never moved: opt_d.step() after the hinge's backward",
             "discriminator": "D′ is updated after G′, from the hinge on the shots and the *detached* fakes, with "
                              "fresh gradients (opt_d.zero_grad()); freeze it during G′'s step "
                              "(D.requires_grad_(False))"}
    try:
        for number, (target, lms) in enumerate(zip(targets, drawn), 1):
            G, D = ref.generator, ref.discriminator
            ref_before = _snapshot(ref)
            D.requires_grad_(False)
            fake = G(lms)
            g_losses = generator_terms(D, fake, target, lms, weights)
            apply_update(g_losses, [opt_g], list(G.parameters()), scaler)
            D.requires_grad_(True)
            apply_update(discriminator_terms(D, target, fake, lms), [opt_d], dense, scaler)

            before, begin = _snapshot(mine), len(log)
            where = f"step {number} of {STEPS}" + (" (from a used state: .grad holds the last step's gradients)"
                                                  if number == 1 else " (the first matched; this one starts where it "
                                                  "left .grad and the optimisers' momentum)")
            failed, _losses = _attempt(name, where, fn, lambda lms=lms: mine.generator(lms), mine.discriminator,
                                       target.clone(), lms.clone(), my_opt_g, my_opt_d, weights, own=finetune,
                                       target="fsth.train.finetune.finetune", rules=FINETUNE_RULES,
                                       raise_hint=_backward_twice)
            if failed is not None:
                return failed
            found = _step_diagnosis(log[begin:], "opt_g", ("opt_d",), "G′", "D′")
            problem = _parameters_after(name, where, mine, ref, before, ref_before, lambda network, moved: _step_hint(
                found, network, moved, {"generator": "opt_g", "discriminator": "opt_d"}, hints))
            if problem is not None:
                return problem
            for key in ("frozen", "detached"):
                if key in found:
                    return _report(name, False, f"{where}: the weights match, but {found[key][0]}", hint=found[key][1])
    finally:
        for handle in handles:
            handle.remove()
    return _report(name, True, f"G′ (ψ′ included) and D′ (w′ included) match fsth's fine-tuning update after each of "
                               f"{STEPS} steps from a used state")
