"""Checks for notebooks 03–04: residual downsampling, the embedder's average, AdaIN."""
from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .compare import (CHECK_MODEL, Rules, _call, _check_model, _Raised, _report, _require_callable, _run_cases, _shape,
                      check)

NOTHING_OF_FSTH = Rules(allow=())  # the exercise is plain torch: no fsth function may run


def _plain_weight(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A convolution's effective weight (after spectral normalisation, if any) and bias."""
    return conv.weight.detach().clone(), None if conv.bias is None else conv.bias.detach().clone()


def _with_weights(block: nn.Module, convs: dict[str, tuple]) -> nn.Module:
    """fsth's ``block`` with spectral normalisation removed and the learner's weights in its convolutions."""
    from torch.nn.utils import parametrize

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


def _reference_down(cin: int, cout: int, convs: dict[str, tuple]) -> nn.Module:
    from ..nn.blocks import ResBlockDown

    return _with_weights(ResBlockDown(cin, cout).eval(), convs)


def _learner_block(name: str, cls: Callable, cin: int, cout: int, skip: bool = True):
    """The learner's block ``cls(cin, cout)`` (``cls(cin)`` without ``skip``: a block at constant width)
    and its conv1/conv2/skip weights: (None, block, convs), or (the ✗ report, None, None) when it
    can't be built or its layers aren't the expected ones."""
    torch.manual_seed(0)
    args = (cin, cout) if skip else (cin,)
    made = f"cls({', '.join(map(str, args))})"
    try:
        block = _call(cls, *args)
    except _Raised as err:
        return _report(name, False, f"creating it as {made}: {err}"), None, None
    if not isinstance(block, nn.Module):
        return _report(name, False, f"{made} gave {type(block).__name__}, not a torch.nn.Module"), None, None
    expected = {"conv1": (cout, cin, 3, 3), "conv2": (cout, cout, 3, 3)}
    if skip:
        expected["skip"] = (cout, cin, 1, 1)
    layers = "conv1 (3×3), conv2 (3×3) and skip (1×1)" if skip else "conv1 and conv2 (both 3×3)"
    missing = [k for k in expected if not isinstance(getattr(block, k, None), nn.Conv2d)]
    if missing:
        return _report(name, False, f"no nn.Conv2d named {', '.join(missing)}",
                       hint=f"name the layers {layers} so the check can compare"), None, None
    block.eval()
    convs = {k: _plain_weight(getattr(block, k)) for k in expected}
    for key, shape in expected.items():
        if tuple(convs[key][0].shape) != shape:
            return _report(name, False, f"{key}.weight has shape {tuple(convs[key][0].shape)}, expected {shape} "
                                        "(out channels, in channels, kernel, kernel)",
                           hint="conv1: cin→cout 3×3 (padding 1), conv2: cout→cout 3×3, skip: cin→cout 1×1" if skip
                           else "conv1 and conv2: channels→channels, 3×3, padding 1"), None, None
    return None, block, convs


@check("ResBlockDown")
def check_resblock_down(cls: Callable) -> bool:
    """``cls(cin, cout)``: a residual block that halves the resolution, as fsth's
    ``ResBlockDown`` (pre-activated, avg-pooled, a 1×1 skip). Name its layers ``conv1``
    (3×3, cin→cout), ``conv2`` (3×3, cout→cout) and ``skip`` (1×1, cin→cout) so the check can
    run fsth's block with your weights, and compares outputs and the gradients with respect to x."""
    from ..nn.blocks import ResBlockDown

    _require_callable("ResBlockDown", cls)
    name = "ResBlockDown"
    failed, block, convs = _learner_block(name, cls, 4, 8)
    if failed is not None:
        return failed
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
                          own=(ResBlockDown,), rules=NOTHING_OF_FSTH, grads=((0, "x"),),
                          grad_hint="keep both paths in torch operations on x (no .detach(), numpy or in-place "
                                    "changes of the input): E and D learn through this block",
                          generic_hint="residual: conv1 → ReLU → conv2 → avg-pool, plus skip(avg-pool(x)); "
                                       "the residual path starts with ReLU(x)")



@check("embed_average")
def check_embedder_average(fn: Callable) -> bool:
    """``fn(embedder, frames, landmarks) -> ê``: frames and landmark images (B, K, 3, S, S)
    in [-1, 1] to the mean of E's vectors over the K frames of each video, (B, embed_dim).
    Compares ê and the gradients reaching the frames and the landmark images (E trains through ê)."""
    _require_callable("embed_average", fn)
    model = _check_model()
    embedder = model.embedder
    rng = torch.Generator().manual_seed(2)
    size = CHECK_MODEL["image_size"]
    cases = [(f"B={b}, K={k}", (torch.rand(b, k, 3, size, size, generator=rng) * 2 - 1,
                                torch.rand(b, k, 3, size, size, generator=rng) * 2 - 1)) for b, k in ((2, 3), (1, 1), (3, 2))]

    def reference(frames, landmarks):
        return embedder.embed(frames, landmarks)

    def mine(frames, landmarks):
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
                      own=(embedder.embed,), grads=((0, "frames"), (1, "landmarks")),
                      grad_hint="stay in torch operations (no .detach(), numpy or torch.no_grad()): meta-learning "
                                "trains E through ê",
                      generic_hint="embed all B·K frames in one call (merge the first two axes), put the K "
                                   "vectors of each video back together, then average over the axis of the K "
                                   "shots — not over the videos")


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


@check("adain")
def check_adain(cls_or_fn) -> bool:
    """``adain(x (B, C, H, W), psi (B, 2C)) -> (B, C, H, W)``: normalise each channel of each
    image, then scale by psi[:, :C] and shift by psi[:, C:] (fsth.nn.AdaIN). A class taking
    the channel count (like ``AdaIN(C)``) or a module works too. Compares the values and the
    gradients with respect to x and ψ."""
    from ..nn.blocks import AdaIN

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
                ("ψ is ignored: AdaIN's whole point is that the *person* (ψ = P·ê) sets each channel's "
                 "scale and bias after normalising — without them every person looks the same",
                 lambda: norm((2, 3))),
                ("psi holds the C scales first, then the C biases", lambda: norm((2, 3)) * bias + scale),
                ("fsth multiplies by the scale itself, not by (1 + scale)", lambda: norm((2, 3)) * (1 + scale) + bias)]

    return _run_cases("adain", "fsth.nn.AdaIN", cases, lambda x, psi: run(x.clone(), psi.clone()), reference,
                      mistakes, atol=1e-4, rtol=1e-4, own=(AdaIN,), rules=NOTHING_OF_FSTH,
                      grads=((0, "x"), (1, "ψ")),
                      grad_hint="the mean and the variance are functions of x too: keep them in the graph (no "
                                ".detach() on the statistics), or G learns as if the normalisation weren't there",
                      generic_hint="each channel of each image gets its own mean and (biased) variance over "
                                   "its pixels; after normalising, the first half of ψ scales and the second "
                                   "half shifts")
