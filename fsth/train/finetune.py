"""Few-shot fine-tuning (`fsth finetune`): a new person from K images.

The paper's initialisation: ê = mean of E over the K shots; G′ starts from the
meta-learned G with its AdaIN parameters ψ′ = P·ê made trainable; D′ starts with
w′ = w₀ + ê and b′ = b. Both are then trained on the K shots with the meta-learning
losses minus L_MCH (the same loss terms and update as meta-learning: fsth.losses,
train/step.py). ``steps=0`` uses the meta-learned model as it is.

A generator that sees the shots (a warping one) learns to move *other* pictures of the
person onto each shot, never the shot itself: for K > 1 every shot is rebuilt from the other
K − 1; a single shot from slightly moved copies of itself (a random similarity transform of
image and landmarks).
"""
from __future__ import annotations

import copy
import logging
from dataclasses import fields, replace
from typing import Callable

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from ..hardware import autocast, choose, log_choice
from ..io.tensors import resize_frames, to_tensor
from ..landmarks.draw import draw_landmarks
from ..losses import ContentLoss, LossWeights, discriminator_terms, generator_terms
from ..nn import TalkingHeads
from ..nn.conditioning import build as build_conditioning
from ..person import Person
from .step import OptimConfig, apply_update, identity_encoder

log = logging.getLogger(__name__)


def embed_shots(model: TalkingHeads, shots: np.ndarray, landmarks: np.ndarray) -> tuple[TalkingHeads, torch.Tensor]:
    """A copy of the model (eval mode) and the person's embedding ê (1, d) from K shots at the model's size."""
    size = model.config.image_size
    shots, landmarks = resize_frames(shots, landmarks, size)
    model = copy.deepcopy(model).eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        e_hat = model.embedder.embed(to_tensor(shots)[None].to(device),
                                     to_tensor(draw_landmarks(landmarks, size))[None].to(device))
    return model, e_hat


def personalize(model: TalkingHeads, shots: np.ndarray, landmarks: np.ndarray) -> tuple[TalkingHeads, torch.Tensor]:
    """A copy of the model initialised for this person (ψ′ = P·ê, w′ = w₀ + ê, b′ = b)."""
    model, e_hat = embed_shots(model, shots, landmarks)
    model.generator.personalize(e_hat)
    model.discriminator.personalize(e_hat)
    return model, e_hat[0]


def source_shots(shots: np.ndarray, landmarks: np.ndarray, seed: int = 0, copies: int = 4):
    """For each shot, the pictures G′ rebuilds it from during fine-tuning: the other
    shots (K > 1), or ``copies`` randomly moved copies of the one shot. Returns images
    (K, K', S, S, 3) and their landmarks (K, K', 68, 2)."""
    k, size = len(shots), shots.shape[1]
    if k > 1:
        others = [np.delete(np.arange(k), i) for i in range(k)]
        return shots[others], landmarks[others]
    rng = np.random.default_rng(seed)
    images, points = [], []
    for _ in range(copies):
        angle, scale = rng.uniform(-8, 8), rng.uniform(0.93, 1.07)
        shift = rng.uniform(-0.04, 0.04, 2) * size
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += shift
        images.append(cv2.warpAffine(shots[0], matrix, (size, size), borderMode=cv2.BORDER_REFLECT))
        points.append(landmarks[0] @ matrix[:, :2].T + matrix[:, 2])
    return np.stack(images)[None], np.stack(points)[None].astype(np.float32)


def finetune_conditioning(names, shots: np.ndarray, landmarks: np.ndarray, seed: int = 0) -> dict[str, torch.Tensor]:
    """What G′ needs to rebuild each of the K shots (``names``: its ``conditioning``), from
    :func:`source_shots`, stacked over the shots: e.g. ``shots`` (K, K', 3, S, S)."""
    if not names:
        return {}
    size = shots.shape[1]
    images, points = source_shots(shots, landmarks, seed)
    per_shot = [build_conditioning(names, images[i], points[i], landmarks[i:i + 1], size) for i in range(len(shots))]
    return {name: torch.cat([inputs[name] for inputs in per_shot]) for name in names}


def trained_loss_weights(model: TalkingHeads) -> LossWeights:
    """The loss weights in the model's training config (the paper's defaults if it has none)."""
    recorded = (getattr(model, "checkpoint_info", None) or {}).get("train_config", {}).get("loss") or {}
    known = {f.name for f in fields(LossWeights)}
    return LossWeights(**{k: float(v) for k, v in recorded.items() if k in known})


def finetune(model: TalkingHeads, shots: np.ndarray, landmarks: np.ndarray, steps: int = 100,
             batch_size: int = 4, lr_g: float | None = None, lr_d: float | None = None,
             weights: LossWeights | None = None, content: ContentLoss | None = None, seed: int = 0,
             progress: bool = True, amp: str | None = None, optim: OptimConfig = OptimConfig(),
             snapshots: Callable[[int, Person], None] | None = None, snapshot_at: tuple[int, ...] = ()) -> Person:
    """Fine-tune G′ and D′ on the K shots for ``steps`` steps (0: no fine-tuning).

    snapshots(n, person) is called after n steps for every n in ``snapshot_at`` (0 included):
    one run gives the head after 0, 10, 25, … steps, the same as separate runs of that length.
    The person's G keeps training afterwards: render inside the callback.

    optim: the optimiser settings of meta-learning (betas, learning rates, precision);
    ``lr_g``, ``lr_d`` and ``amp`` override its fields ("auto": what this hardware does
    fastest, see fsth.hardware). weights: default, the loss weights the model was trained with
    (so a model trained with the identity term keeps it while fine-tuning)."""
    weights = weights if weights is not None else trained_loss_weights(model)
    optim = replace(optim, **{k: v for k, v in {"lr_g": lr_g, "lr_d": lr_d, "amp": amp}.items() if v is not None})
    size = model.config.image_size
    full_shots, full_points = np.asarray(shots), np.asarray(landmarks, np.float32)  # the person renders at their size
    shots, landmarks = resize_frames(shots, landmarks, size)
    tuned, e_hat = personalize(model, shots, landmarks)
    G, D = tuned.generator, tuned.discriminator
    device = e_hat.device
    precision = choose(device, optim.amp, optim.channels_last)
    if steps:
        log_choice(precision)
    cl = torch.channels_last if precision.channels_last else torch.contiguous_format
    G.to(memory_format=cl), D.to(memory_format=cl)
    images = to_tensor(shots).to(device).contiguous(memory_format=cl)
    drawn = to_tensor(draw_landmarks(landmarks, size)).to(device).contiguous(memory_format=cl)
    inputs = finetune_conditioning(G.conditioning, shots, landmarks, seed) if steps else {}
    inputs = {name: value.to(device) for name, value in inputs.items()}
    dense_d = [p for n, p in D.named_parameters() if not n.startswith("W.")]
    opt_g = torch.optim.Adam(G.parameters(), optim.lr_g, optim.betas)
    opt_d = torch.optim.Adam(dense_d, optim.lr_d, optim.betas)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.amp == "fp16")
    judge = identity_encoder(device) if weights.identity and steps else None
    rng = torch.Generator().manual_seed(seed)
    def snapshot(done: int) -> None:
        if snapshots is not None and done in snapshot_at:
            G.eval()
            snapshots(done, Person(G, e_hat.detach(), full_shots, full_points, done))
            G.train()

    G.train(), D.train()
    snapshot(0)
    for step in tqdm(range(steps), desc="finetune", disable=not progress or steps == 0):
        pick = torch.randint(len(images), (batch_size,), generator=rng).to(device)
        target, target_lm = images[pick], drawn[pick]
        D.requires_grad_(False)
        with autocast(device, precision.amp):
            fake = G(target_lm, None, **{name: value[pick] for name, value in inputs.items()})
            g_losses = generator_terms(D, fake, target, target_lm, weights, content=content, identity=judge,
                                       target_points=landmarks[pick.cpu().numpy()])
        apply_update(g_losses, [opt_g], list(G.parameters()), scaler, optim.grad_clip)
        D.requires_grad_(True)
        for _ in range(optim.d_steps):
            with autocast(device, precision.amp):
                d_losses = discriminator_terms(D, target, fake, target_lm)
            apply_update(d_losses, [opt_d], dense_d, scaler, optim.grad_clip)
        snapshot(step + 1)
    G.eval().to(memory_format=torch.contiguous_format)  # the layout a loaded person file has
    return Person(G, e_hat.detach(), full_shots, full_points, steps)
