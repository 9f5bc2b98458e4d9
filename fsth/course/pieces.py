"""Your pieces, in the model: what learners build in notebooks 03–07 is kept (d2l's ``#@save``)
and later notebooks train and animate with it.

    keep(adain=my_adain, ResBlockUp=MyResBlockUp)   # notebook 04: written to the course folder
    pieces = mine()                                  # notebook 06: the kept pieces that pass their checks
    model = build_model(course_config("tiny"), pieces, num_videos=48)
    print(describe_share(model))                     # how much of the model is your code
    history = train_mine(model, data, pieces.get("meta_step"), steps=120)

The model is assembled from the learner's blocks (``fsth.nn.create(..., blocks=...)``): their
ResBlockDown in the embedder and the discriminator (03), their ResBlock and ResBlockUp with their
AdaIN in the generator (04), scored with their realism score (05), trained with their losses and
step (06), personalised and fine-tuned with theirs (07). A piece that is missing or fails its
check is replaced by fsth's, and ``mine`` says so: a notebook always runs to the end.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import linecache
import sys
import time

import numpy as np
import torch
from torch import nn

from ..io import atomic_write_text
from ..nn.conditioning import select
from .compare import lenient
from .data import course_dir

CHECKS = {"ResBlockDown": "check_resblock_down", "adain": "check_adain", "ResBlock": "check_resblock",
          "ResBlockUp": "check_resblock_up", "realism_score": "check_realism_score",
          "generator_loss": "check_generator_loss", "discriminator_loss": "check_discriminator_loss",
          "meta_step": "check_meta_step", "personalize": "check_personalize", "finetune_step": "check_finetune_step"}
LEARNERS_MODULES = ("__your_", "_kept_", "__main__")  # where classes defined by a learner live (kept pieces, a notebook)
PRELUDE = ("import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
           "from torch.nn.utils.parametrizations import spectral_norm\n")


def _kept_file():
    return course_dir() / "mine" / "pieces.json"


def _source(obj) -> dict:
    """Where ``obj`` can be found again: its own source text (a notebook cell) and everything it calls
    from the notebook — helper functions and classes (their sources, recursively), modules, imported
    names and literal values (:func:`fsth.course.origin.closure`) — or, for a piece imported from a
    file of the learner's own, that file and its name."""
    from .origin import closure

    if not callable(obj) or not (hasattr(obj, "__code__") or any(hasattr(v, "__code__") for v in vars(obj).values())):
        raise TypeError(f"keep: {obj!r} is neither a function nor a class with methods")
    found = closure(obj)
    if found.source is not None:
        kept = {"source": found.source, "name": obj.__name__,
                "needs": [n.as_dict() for n in found.needs if n.kind != "missing"]}
        if found.missing:
            kept["missing"] = [f"{n.name} ({n.text})" for n in found.missing]
        return kept
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    if getattr(module, "__file__", None) and module.__name__ != "__main__" and getattr(module, obj.__name__, None) is obj:
        return {"file": module.__file__, "name": obj.__name__}
    raise ValueError(f"keep: can't find the source of {obj.__name__}")


def keep(**pieces) -> None:
    """Keep your pieces for later notebooks, by role: ``keep(adain=my_adain, ResBlockUp=MyResBlockUp)``.
    Roles: ResBlockDown, adain, ResBlock, ResBlockUp, realism_score, generator_loss, discriminator_loss,
    meta_step, personalize, finetune_step.
    What a piece calls from your notebook is kept with it (your helper functions and classes, the
    modules and names you imported, constants), so later notebooks run your whole solution."""
    unknown = set(pieces) - set(CHECKS)
    if unknown:
        raise TypeError(f"keep: unknown role(s) {', '.join(sorted(unknown))}; roles are {', '.join(CHECKS)}")
    path = _kept_file()
    kept = json.loads(path.read_text()) if path.exists() else {}
    kept.update({role: _source(obj) for role, obj in pieces.items()})
    atomic_write_text(path, json.dumps(kept, indent=1))
    helpers = sorted({n.get("defines", n["name"]) for role in pieces for n in kept[role].get("needs", [])
                      if "source" in n and n["source"]})
    print(f"kept {', '.join(pieces)}{' (with ' + ', '.join(helpers) + ')' if helpers else ''} in {path.parent}: "
          "later notebooks use them once their checks pass")
    for role in pieces:
        for missing in kept[role].get("missing", []):
            print(f"  note: your {role} uses {missing}; pass it in or define it inside the function")


def _remember(source: str, filename: str) -> None:
    """Put a kept source where tracebacks and inspect look for it (as IPython does for a cell)."""
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def _load(kept: dict) -> dict:
    """Every kept piece, defined again: each with what it needs, in a namespace of its own. (Pieces
    kept before their helpers were stored share one namespace, as in the notebook.)"""
    from .origin import define

    shared: dict = {"__name__": "__your_pieces__"}
    exec(compile(PRELUDE, "<course prelude>", "exec"), shared)
    found = {}
    for role, where in kept.items():
        if "source" not in where:
            continue
        namespace = shared
        if "needs" in where:
            namespace = {"__name__": f"__your_{role}__"}
            exec(compile(PRELUDE, "<course prelude>", "exec"), namespace)
            define(namespace, where["needs"])
        filename = f"<your {role}>"
        _remember(where["source"], filename)
        exec(compile(where["source"], filename, "exec"), namespace)
        found[role] = namespace
    for role, where in kept.items():
        if "source" in where:
            found[role] = found[role].get(where["name"])
        else:
            spec = importlib.util.spec_from_file_location(f"_kept_{role}", where["file"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            found[role] = getattr(module, where["name"])
    return found


def mine(*roles: str, verbose: bool = True) -> dict:
    """The kept pieces (all, or ``roles``) that pass their checks now; the others are left to fsth."""
    from . import checks_build, checks_losses, checks_networks

    path = _kept_file()
    kept = json.loads(path.read_text()) if path.exists() else {}
    roles = roles or tuple(CHECKS)
    try:
        loaded = _load({r: kept[r] for r in roles if r in kept})
    except Exception as err:  # a kept cell that no longer runs: use fsth's pieces
        print(f"your kept pieces don't load ({type(err).__name__}: {err}); using fsth's")
        loaded = {}
    usable, notes = {}, []
    for role in roles:
        if role not in loaded:
            notes.append(f"{role}: fsth's (not kept yet)")
            continue
        check = next(getattr(m, CHECKS[role]) for m in (checks_build, checks_networks, checks_losses)
                     if hasattr(m, CHECKS[role]))
        with contextlib.redirect_stdout(io.StringIO()), lenient():
            try:
                ok = check(loaded[role])
            except TypeError:  # not callable (a kept name that is no function any more)
                ok = False
        if ok:
            usable[role] = loaded[role]
            notes.append(f"{role}: yours ✓")
        else:
            notes.append(f"{role}: fsth's (yours doesn't pass its check yet)")
    if verbose:
        print("pieces —", "; ".join(notes))
    return usable


# ----------------------------------------------------------------------------------------
# A model with your pieces in it
# ----------------------------------------------------------------------------------------

def _adain_module():
    from ..nn.blocks import AdaIN

    class YourAdaIN(AdaIN):
        """fsth's AdaIN slot, your computation."""

        def __init__(self, channels, fn):
            super().__init__(channels)
            self.fn = fn

        def forward(self, x, psi):
            return self.fn(x, psi.to(x.dtype))
    return YourAdaIN


def _score_discriminator(cls):
    class YourScore(cls):
        """fsth's discriminator, scored with your V(x, y)ᵀ(Wᵢ + w₀) + b."""

        def forward(self, images, landmarks, video=None):
            if video is None:  # personalised D′: w′ = w₀ + ê stands in for Wᵢ + w₀
                return super().forward(images, landmarks, video)
            v, feats = self.features(images, landmarks)
            return self.score_fn(v, self.W(video), self.w0, self.b), feats
    return YourScore


def your_blocks(pieces: dict) -> dict:
    """The block classes for ``fsth.nn.create(..., blocks=...)`` from your pieces, called with fsth's
    signatures: your ResBlockDown where fsth's is pre-activated and unnormalised (every block of E and
    of D's V but the first, which sees the raw image), your ResBlock in G's bottleneck (AdaIN), your
    ResBlockUp in G's decoder, your AdaIN everywhere else an AdaIN is. Your blocks name their weights
    as fsth's do (conv1, conv2, skip), so a checkpoint loads into either."""
    from ..nn.blocks import AdaIN, ResBlock, ResBlockDown

    blocks, adain = {}, AdaIN
    if "adain" in pieces:
        YourAdaIN, fn = _adain_module(), pieces["adain"]
        adain = blocks["AdaIN"] = lambda channels: YourAdaIN(channels, fn)
    if "ResBlockDown" in pieces:
        def down(cin, cout, norm="none", preactivate=True, yours=pieces["ResBlockDown"]):
            if norm == "none" and preactivate:
                return yours(cin, cout)
            return ResBlockDown(cin, cout, norm=norm, preactivate=preactivate)
        blocks["ResBlockDown"] = down
    if "ResBlock" in pieces:
        def res(channels, norm="adain", yours=pieces["ResBlock"]):
            return yours(channels) if norm == "adain" else ResBlock(channels, norm=norm, adain=adain)
        blocks["ResBlock"] = res
    if "ResBlockUp" in pieces:
        blocks["ResBlockUp"] = lambda cin, cout, yours=pieces["ResBlockUp"]: yours(cin, cout)
    return blocks


def build_model(preset="tiny", pieces: dict | None = None, **overrides):
    """``fsth.nn.create(preset, **overrides)`` built from your pieces in place of fsth's (:func:`your_blocks`),
    D scored with your ``realism_score``. ``preset``: a name or a ModelConfig (:func:`course_config`)."""
    from ..nn import create

    pieces = pieces or {}
    model = create(preset, blocks=your_blocks(pieces), **overrides)
    if "realism_score" in pieces:
        model.discriminator.__class__ = _score_discriminator(type(model.discriminator))
        model.discriminator.score_fn = pieces["realism_score"]
    model.pieces = sorted(pieces)
    return model


def _learners(cls) -> bool:
    return any(cls.__module__.startswith(prefix) for prefix in LEARNERS_MODULES)


def parameter_share(model: nn.Module) -> dict:
    """How many of the model's parameters live in modules of classes you wrote (your blocks and
    everything inside them), in total and per network."""
    mine_ids = {id(p) for m in model.modules() if _learners(type(m)) for p in m.parameters()}
    share = {}
    for name in ("embedder", "generator", "discriminator"):
        params = list(getattr(model, name).parameters())
        share[name] = (sum(p.numel() for p in params if id(p) in mine_ids), sum(p.numel() for p in params))
    yours, total = (sum(v[i] for v in share.values()) for i in (0, 1))
    return {"yours": yours, "total": total, "share": yours / total, "networks": share}


def describe_share(model: nn.Module) -> str:
    """One line per network: how much of it is your code."""
    share = parameter_share(model)
    lines = [f"{share['yours'] / 1e6:.2f}M of the model's {share['total'] / 1e6:.2f}M parameters are in your code: "
             f"{100 * share['share']:.1f} %"]
    for name, (yours, total) in share["networks"].items():
        lines.append(f"  {name:13s} {100 * yours / total:5.1f} % of {total / 1e6:.2f}M")
    return "\n".join(lines)


def _fsth_meta_step(model, weights, lr_g, lr_d):
    from ..train.step import MetaStep, OptimConfig

    step = MetaStep(model, None, weights, OptimConfig(lr_g=lr_g, lr_d=lr_d, amp="none", channels_last=False))
    return lambda batch: step(batch)


def train_mine(model, data, step=None, steps: int = 100, k: int = 4, batch_size: int = 4,
               lr_g: float = 3e-4, lr_d: float = 1.2e-3, weights=None, holdout: int = 4, seed: int = 0,
               device: str = "cpu", minutes: float | None = None, max_steps: int | None = None,
               samples_every: int | None = None) -> dict:
    """Meta-learning with ``step(model, batch, opt_g, opt_d, opt_w, weights)`` (yours) or, when it
    is None, fsth's MetaStep, for ``steps`` steps (a fixed number, whatever the machine; ``minutes``
    adds a time box, ``max_steps`` is an old name of ``steps``); ``holdout`` people are kept out.
    Returns the losses of every step, sample pictures (target landmarks | x̂ | x_t) from the first
    step, every ``samples_every`` steps and the last, and the held-out identities. float32
    throughout: your step has no autocast."""
    from torch.utils.data import DataLoader

    from ..losses import LossWeights
    from ..train.episodes import EpisodeDataset, EpisodeSampler
    from ..train.meta import split_identities

    steps = max_steps if max_steps is not None else steps
    weights = weights or LossWeights()
    torch.manual_seed(seed)
    train_ids, held_out = split_identities(str(data), holdout, seed)  # as fsth train does
    dataset = EpisodeDataset(data, k=k, size=model.config.image_size, identities=train_ids,
                             conditioning=model.generator.conditioning)
    if dataset.num_videos > model.discriminator.num_videos:
        model.grow(dataset.num_videos)
    model.to(device).train()
    if step is None:
        run = _fsth_meta_step(model, weights, lr_g, lr_d)
    else:
        E, G, D = model.embedder, model.generator, model.discriminator
        opt_g = torch.optim.Adam(list(E.parameters()) + list(G.parameters()), lr_g, (0.5, 0.999))
        opt_d = torch.optim.Adam([p for n, p in D.named_parameters() if not n.startswith("W.")], lr_d, (0.5, 0.999))
        opt_w = torch.optim.SparseAdam([D.W.weight], lr_d, (0.5, 0.999))
        run = lambda batch: step(model, batch, opt_g, opt_d, opt_w, weights)  # noqa: E731
    loader = DataLoader(dataset, batch_size=batch_size, sampler=EpisodeSampler(len(dataset), seed=seed))
    history: dict[str, list[float]] = {}
    samples = []
    started = time.perf_counter()
    for number, batch in enumerate(loader):
        batch = {key: value.to(device) for key, value in batch.items() if key not in ("clip", "skipped")}
        losses = run(batch)
        for key, value in losses.items():
            history.setdefault(key, []).append(float(torch.as_tensor(value).detach()))
        done = number + 1 >= steps or (minutes is not None and time.perf_counter() - started > minutes * 60)
        if number == 0 or done or (samples_every and (number + 1) % samples_every == 0):
            samples.append(_sample(model, batch, number + 1))
        if done:
            break
    model.eval()
    return {"losses": history, "samples": samples, "steps": number + 1, "seconds": time.perf_counter() - started,
            "holdout": held_out}


@torch.no_grad()
def _sample(model, batch, step):
    b, k = batch["shots"].shape[:2]
    e_hat = model.embedder(batch["shots"].flatten(0, 1), batch["shot_landmarks"].flatten(0, 1)).view(b, k, -1).mean(1)
    fake = model.generator(batch["target_landmarks"], e_hat, **select(model.generator.conditioning, batch))
    return step, [batch["target_landmarks"][0].cpu(), fake[0].cpu(), batch["target"][0].cpu()]


def save_mine(model, path=None):
    """Your model's weights and the pieces it was built with (course folder, ``mine/model.pt``)."""
    from ..io.checkpoint import save_checkpoint

    path = path or course_dir() / "mine" / "model.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config.to_dict(),
                           "pieces": list(getattr(model, "pieces", []))})
    return path


def load_mine(path=None, device: str = "cpu", pretrained: bool = False):
    """The model notebook 06 trained with your pieces (rebuilt with them, then its weights), or with
    ``pretrained=True`` your architecture — your blocks, as far as they pass their checks — with the
    weights of fsth's precomputed course model (``fsth/pretrained/course_tiny_synth.pt``: the same
    architecture, trained by fsth for 40 minutes), for when your own run was short."""
    from ..assets import COURSE_MODEL, pretrained_path
    from ..io.checkpoint import load_checkpoint
    from ..nn import ModelConfig

    if pretrained:
        path = pretrained_path(COURSE_MODEL)
        state = load_checkpoint(path, map_location="cpu")
        pieces = mine(*[r for r in ("ResBlockDown", "adain", "ResBlock", "ResBlockUp", "realism_score")],
                      verbose=False)
    else:
        path = path or course_dir() / "mine" / "model.pt"
        state = load_checkpoint(path, map_location="cpu")
        pieces = mine(*state["pieces"], verbose=False) if state["pieces"] else {}
        if set(pieces) != set(state["pieces"]):
            raise ValueError(f"{path} was trained with your {', '.join(state['pieces'])}, but "
                             f"{', '.join(sorted(set(state['pieces']) - set(pieces)))} no longer pass(es) its check")
    model = build_model(ModelConfig.from_dict(state["model_config"]), pieces)
    weights = {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:  # your blocks name their weights otherwise: fsth's blocks take them
        if not pretrained:
            raise
        print(f"your blocks don't take the course model's weights ({str(err).splitlines()[0]}); using fsth's blocks")
        model = build_model(ModelConfig.from_dict(state["model_config"]),
                            {r: p for r, p in pieces.items() if r == "realism_score"})
        model.load_state_dict(weights)
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------
# Fine-tuning with your step
# ----------------------------------------------------------------------------------------

def personalize_mine(model, shots: np.ndarray, landmarks: np.ndarray, personalize=None):
    """A copy of the model initialised for this person and its ê: with your ``personalize(model, ê)
    -> (ψ′, w′)`` (notebook 07), or fsth's when it is None."""
    from ..train.finetune import embed_shots
    from ..train.finetune import personalize as fsths

    if personalize is None:
        return fsths(model, shots, landmarks)
    tuned, e_hat = embed_shots(model, shots, landmarks)
    e_hat = e_hat[0]
    with torch.no_grad():
        psi, w = personalize(tuned, e_hat)
    synthesis = getattr(tuned.generator, "synth", tuned.generator)  # a warping G personalises its synthesis path
    synthesis.psi = nn.Parameter(psi.detach().reshape(1, -1).float().clone())  # ψ′, trainable
    tuned.discriminator.w_personal = nn.Parameter(w.detach().reshape(-1).float().clone())  # w′
    return tuned, e_hat


def finetune_mine(model, shots: np.ndarray, landmarks: np.ndarray, step=None, steps: int = 30, lr_g: float = 1e-3,
                  lr_d: float = 2e-4, batch_size: int = 4, weights=None, seed: int = 0, personalize=None):
    """A :class:`fsth.person.Person` fine-tuned with ``step(make_fake, D, target, target_landmarks,
    opt_g, opt_d, weights)`` (yours) — or with fsth's ``finetune`` when it and ``personalize`` are
    None — from the start your ``personalize`` gives (fsth's when None). Works for every generator:
    ``make_fake`` hides what G′ needs besides the landmarks (its ``conditioning``)."""
    from ..io.tensors import resize_frames, to_tensor
    from ..landmarks.draw import draw_landmarks
    from ..losses import LossWeights
    from ..person import Person
    from ..train.finetune import finetune, finetune_conditioning

    weights = weights or LossWeights()
    if step is None and personalize is None:
        return finetune(model, shots, landmarks, steps=steps, lr_g=lr_g, lr_d=lr_d, batch_size=batch_size,
                        weights=weights, seed=seed, progress=False, amp="none")
    step = step or _fsth_finetune_step
    size = model.config.image_size
    shots, landmarks = resize_frames(shots, landmarks, size)
    tuned, e_hat = personalize_mine(model, shots, landmarks, personalize)
    G, D = tuned.generator, tuned.discriminator
    device = e_hat.device
    images = to_tensor(shots).to(device)
    drawn = to_tensor(draw_landmarks(landmarks, size)).to(device)
    inputs = {k: v.to(device) for k, v in finetune_conditioning(G.conditioning, shots, landmarks, seed).items()}
    opt_g = torch.optim.Adam(G.parameters(), lr_g, (0.5, 0.999))
    opt_d = torch.optim.Adam([p for n, p in D.named_parameters() if not n.startswith("W.")], lr_d, (0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    G.train(), D.train()
    for _ in range(steps):
        pick = torch.randint(len(images), (batch_size,), generator=rng).to(device)
        make_fake = lambda pick=pick: G(drawn[pick], None, **{k: v[pick] for k, v in inputs.items()})  # noqa: E731
        step(make_fake, D, images[pick], drawn[pick], opt_g, opt_d, weights)
    G.eval()
    return Person(G, e_hat.detach(), shots, landmarks.astype(np.float32), steps)


def _fsth_finetune_step(make_fake, D, target, target_landmarks, opt_g, opt_d, weights):
    """fsth's fine-tuning step in the form of notebook 07's exercise (for a learner's personalize
    without their step)."""
    from ..losses import generator_terms, hinge_d_loss

    D.requires_grad_(False)
    fake = make_fake()
    g_losses = generator_terms(D, fake, target, target_landmarks, weights)
    opt_g.zero_grad()
    sum(g_losses.values()).backward()
    opt_g.step()
    D.requires_grad_(True)
    d_loss = hinge_d_loss(D(target, target_landmarks)[0], D(fake.detach(), target_landmarks)[0])
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return {**g_losses, "d_hinge": d_loss}
