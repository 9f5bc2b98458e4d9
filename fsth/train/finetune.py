"""Few-shot fine-tuning (`fsth finetune`): a new person from K images.

The paper's initialisation: ê = mean of E over the K shots; G′ starts from the
meta-learned G with its AdaIN parameters ψ′ = P·ê made trainable; D′ starts with
w′ = w₀ + ê and b′ = b. Both are then trained on the K shots with the meta-learning
losses minus L_MCH. ``steps=0`` is the feed-forward variant: no training at all.
"""
from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.crop import crop_face, face_box
from ..hardware import choose, log_choice
from ..landmarks.draw import draw_landmarks
from ..losses import ContentLoss, LossWeights, adversarial_g_loss, feature_matching_loss, hinge_d_loss
from ..nn import Generator, TalkingHeads, create
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .episodes import resize_frames, to_tensor
from .step import autocast_context

log = logging.getLogger(__name__)
PERSON_FORMAT = "fsth-person-1"


@dataclass
class Person:
    """A personalised generator and what animating it needs.

    shots: uint8 (K, S, S, 3) crops; landmarks: float32 (K, 68, 2) in crop pixels.
    """

    generator: Generator
    e_hat: torch.Tensor
    shots: np.ndarray
    landmarks: np.ndarray
    steps: int = 0

    @property
    def size(self) -> int:
        return self.generator.config.image_size

    @torch.no_grad()
    def render(self, landmarks: np.ndarray, batch: int = 16, amp: str = "auto") -> np.ndarray:
        """Frames for landmarks (T, 68, 2) in crop pixels: uint8 (T, S, S, 3), in the precision
        this hardware does fastest (``amp``, see fsth.hardware)."""
        from .episodes import to_uint8

        device = next(self.generator.parameters()).device
        amp = choose(device, amp).amp  # auto: bf16 only where it is native
        self.generator.eval()
        out = []
        for start in range(0, len(landmarks), batch):
            drawn = to_tensor(draw_landmarks(landmarks[start:start + batch], self.size)).to(device)
            with autocast_context(device, amp):
                out.append(to_uint8(self.generator(drawn)))
        return np.concatenate(out)


def load_model(path: str | os.PathLike, device="cpu", use_ema: bool = True) -> TalkingHeads:
    """Rebuild E, G and D from a training checkpoint (G's moving average if it has one)."""
    state = load_checkpoint(path, map_location="cpu")
    if "model" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint (a person file? use --person)")
    model = create(state["model_config"])
    model.load_state_dict(state["model"])
    if use_ema and "ema" in state:
        ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
        model.generator.load_state_dict(ema)
        refresh_spectral_norm(model.generator)
    return model.to(device).eval()


@torch.no_grad()
def refresh_spectral_norm(generator: Generator, iterations: int = 30) -> None:
    """Re-estimate spectral norms after averaging weights: the averaged power-iteration
    vectors (u, v) don't belong to the averaged weights. In training mode every forward
    runs one power iteration per layer, so a few dummy forwards set them right."""
    size, dim = generator.config.image_size, generator.config.embed_dim
    landmarks, e_hat = torch.zeros(1, 3, size, size), torch.ones(1, dim)
    generator.train()
    for _ in range(iterations):
        generator(landmarks, e_hat)
    generator.eval()


def crop_shots(images: list[np.ndarray], size: int, detector, names=None, margin: float = 0.7):
    """Detect, crop and resize portraits like ``fsth preprocess``: (K, S, S, 3), (K, 68, 2)."""
    crops, points = [], []
    for i, image in enumerate(images):
        found = detector.detect(image, source=names[i] if names else f"shot {i}")
        crop, moved, _ = crop_face(image, face_box(found, margin=margin), size, found)
        crops.append(crop)
        points.append(moved)
    return np.stack(crops), np.stack(points)


def personalize(model: TalkingHeads, shots: np.ndarray, landmarks: np.ndarray) -> tuple[TalkingHeads, torch.Tensor]:
    """A copy of the model initialised for this person (ψ′ = P·ê, w′ = w₀ + ê, b′ = b)."""
    size = model.config.image_size
    shots, landmarks = resize_frames(shots, landmarks, size)
    model = copy.deepcopy(model).eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        e_hat = model.embedder.embed(to_tensor(shots)[None].to(device),
                                     to_tensor(draw_landmarks(landmarks, size))[None].to(device))
    model.generator.personalize(e_hat)
    model.discriminator.personalize(e_hat)
    return model, e_hat[0]


def finetune(model: TalkingHeads, shots: np.ndarray, landmarks: np.ndarray, steps: int = 100,
             batch_size: int = 4, lr_g: float = 5e-5, lr_d: float = 2e-4, weights: LossWeights = LossWeights(),
             content: ContentLoss | None = None, seed: int = 0, progress: bool = True,
             amp: str = "auto") -> Person:
    """Fine-tune G′ and D′ on the K shots for ``steps`` steps (0: feed-forward).

    amp: autocast dtype for the training steps: "auto" (what this hardware does fastest,
    see fsth.hardware), "bf16", "fp16" (CUDA) or "none" (fp32)."""
    size = model.config.image_size
    shots, landmarks = resize_frames(shots, landmarks, size)
    tuned, e_hat = personalize(model, shots, landmarks)
    G, D = tuned.generator, tuned.discriminator
    device = e_hat.device
    precision = choose(device, amp)
    if steps:
        log_choice(precision)
    amp = precision.amp
    cl = torch.channels_last if precision.channels_last else torch.contiguous_format
    G.to(memory_format=cl), D.to(memory_format=cl)
    images = to_tensor(shots).to(device).contiguous(memory_format=cl)
    drawn = to_tensor(draw_landmarks(landmarks, size)).to(device).contiguous(memory_format=cl)
    dense_d = [p for n, p in D.named_parameters() if not n.startswith("W.")]
    opt_g = torch.optim.Adam(G.parameters(), lr_g, (0.5, 0.999))
    opt_d = torch.optim.Adam(dense_d, lr_d, (0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    G.train(), D.train()
    for _ in tqdm(range(steps), desc="finetune", disable=not progress or steps == 0):
        pick = torch.randint(len(images), (batch_size,), generator=rng).to(device)
        target, target_lm = images[pick], drawn[pick]
        D.requires_grad_(False)
        with autocast_context(device, amp):
            fake = G(target_lm)
            fake_score, fake_feats = D(fake, target_lm)
            with torch.no_grad():
                _, real_feats = D.features(target, target_lm)
            losses = {"adversarial": weights.adversarial * adversarial_g_loss(fake_score),
                      "feature_matching": weights.feature_matching * feature_matching_loss(fake_feats, real_feats)}
            if weights.pixel:
                losses["pixel"] = weights.pixel * torch.nn.functional.l1_loss(fake.float(), target)
            if content is not None:
                losses.update(content(fake, target))
        opt_g.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt_g.step()
        D.requires_grad_(True)
        with autocast_context(device, amp):
            scores, _ = D(torch.cat([target, fake.detach()]), target_lm.repeat(2, 1, 1, 1))
            real_score, fake_score = scores.float().chunk(2)
            d_loss = hinge_d_loss(real_score, fake_score)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
    G.eval().to(memory_format=torch.contiguous_format)  # the layout a loaded person file has
    return Person(G, e_hat.detach(), shots, landmarks.astype(np.float32), steps)


def save_person(path: str | os.PathLike, person: Person) -> Path:
    """Write a person file (safe-loading, atomic): the personalised G, ê and the shots."""
    return save_checkpoint(path, {
        "kind": PERSON_FORMAT, "model_config": person.generator.config.to_dict(),
        "generator": person.generator.state_dict(), "e_hat": person.e_hat.cpu(),
        "shots": torch.from_numpy(person.shots), "landmarks": torch.from_numpy(person.landmarks),
        "steps": person.steps, "synthetic_note": "fsth person model: renders synthetic media"})


def load_person(path: str | os.PathLike, device="cpu") -> Person:
    state = load_checkpoint(path)
    if state.get("kind") != PERSON_FORMAT:
        raise CheckpointError(f"{path}: not an fsth person file (a training checkpoint? use --checkpoint)")
    from ..nn import ModelConfig

    generator = Generator(ModelConfig.from_dict(state["model_config"]))
    generator.psi = torch.nn.Parameter(torch.zeros(1, generator.num_adain_params))
    generator.load_state_dict(state["generator"])
    return Person(generator.to(device).eval(), state["e_hat"].to(device), state["shots"].numpy(),
                  state["landmarks"].numpy(), state["steps"])


def export_model(checkpoint: str | os.PathLike, out: str | os.PathLike, half: bool = True) -> Path:
    """A slim, shippable copy of a training checkpoint: E, G (its moving average if there
    is one) and D in float16, the configs, the step and the wall time — no optimiser."""
    state = load_checkpoint(checkpoint)
    model = load_model(checkpoint, use_ema=True)
    weights = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    return save_checkpoint(out, {"model": weights, "model_config": state["model_config"],
                                 "train_config": state["train_config"], "step": state["step"],
                                 "seconds": state.get("seconds", 0.0), "holdout": state.get("holdout", [])})
