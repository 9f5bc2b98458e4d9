"""Inference: a trained model from its file, and a personalised head that renders frames.

    model = load_model("fsth/pretrained/talking_heads_tiny_warp.pt")   # model.checkpoint_info["holdout"]
    shots, points = crop_shots([photo], model.config.image_size, detector)
    person = finetune(model, shots, points)       # fsth.train.finetune: ψ′ = P·ê, then a few steps
    frames = person.render(target_points)         # uint8 (T, S, S, 3)

Everything here is used by animation, evaluation, the demo, the detector study and the
course before training is even taught; training (``fsth.train``) builds on it, not the
other way round.
"""
from __future__ import annotations

import contextlib

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .io.crop import CROP_MARGIN, crop_face, face_box
from .hardware import autocast, choose
from .io.tensors import resize_frames, to_tensor, to_uint8
from .landmarks.draw import draw_landmarks
from .nn import ModelConfig, TalkingHeads, create
from .nn.base import TalkingHeadGenerator, create_generator
from .nn.conditioning import build as build_conditioning
from .io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

PERSON_FORMAT = "fsth-person-1"


@dataclass
class Person:
    """A personalised generator and what animating it needs: a renderer (fsth.render).

    shots: uint8 (K, R, R, 3) crops; landmarks: float32 (K, 68, 2) in crop pixels. Frames come
    out at the shots' size R (``size``): G works at its own size S (``generator.config.image_size``)
    and, if it samples the shots, takes their texture from the full-resolution crops.
    """

    generator: TalkingHeadGenerator
    e_hat: torch.Tensor
    shots: np.ndarray
    landmarks: np.ndarray
    steps: int = 0

    @property
    def size(self) -> int:
        return int(self.shots.shape[1])

    @torch.no_grad()
    def render(self, landmarks: np.ndarray, batch: int = 16, amp: str = "auto", continues: bool = False,
               video: bool = True) -> np.ndarray:
        """Frames for landmarks (T, 68, 2) in crop pixels: uint8 (T, R, R, 3), in the precision
        this hardware does fastest (``amp``, see fsth.hardware). ``video``: the landmarks are
        consecutive frames of one video, so G may smooth over time (the guided model's flow);
        False for independent pictures. ``continues``: they follow the last call's frames in the
        same video (a video rendered in chunks), so what G carries from frame to frame is kept."""
        device = next(self.generator.parameters()).device
        amp = choose(device, amp).amp  # auto: bf16 only where it is native
        self.generator.eval()
        if not continues or not video:
            self.generator.reset_motion()
        model_size, size = self.generator.config.image_size, self.size
        small, small_points = resize_frames(self.shots, self.landmarks, model_size)
        shots = to_tensor(small)
        full = to_tensor(self.shots).to(device) if size != model_size else None
        out = []
        for start in range(0, len(landmarks), batch):
            chunk = (np.asarray(landmarks[start:start + batch], np.float32) + 0.5) * (model_size / size) - 0.5
            drawn = to_tensor(draw_landmarks(chunk, model_size)).to(device)
            inputs = build_conditioning(self.generator.conditioning, shots, small_points, chunk, model_size)
            inputs = {k: v.to(device) for k, v in inputs.items()}
            with autocast(device, amp), (contextlib.nullcontext() if video else self.generator.stills()):
                frames = self.generator.full_resolution(
                    drawn, None, size, full_shots=None if full is None else full[None].expand(len(chunk), -1, -1, -1, -1),
                    **inputs)
            out.append(to_uint8(frames))
        return np.concatenate(out)

    def render_continued(self, landmarks: np.ndarray, **kwargs) -> np.ndarray:
        """``render`` for frames that follow the last call's in the same video (fsth.render)."""
        return self.render(landmarks, continues=True, **kwargs)


def load_model(path: str | os.PathLike, device="cpu", use_ema: bool = True) -> TalkingHeads:
    """Rebuild E, G and D from a training checkpoint (G's moving average if it has one).

    The returned model carries ``checkpoint_info`` (path, step, hold-out identities, training
    config), so nobody has to read the file a second time."""
    from .io.checkpoint import check_finite

    state = load_checkpoint(path, map_location="cpu")
    if "model" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint (it looks like a person file: load it with fsth.person.load_person)")
    if not isinstance(state["model"], dict) or not isinstance(state.get("model_config"), dict):
        raise CheckpointError(f"{path}: a damaged training checkpoint (its model or model_config is not a mapping)")
    check_finite(path, state["model"], "the model")
    ema = None
    if use_ema and isinstance(state.get("ema"), dict):
        ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
        check_finite(path, ema, "the moving average of G")
    try:
        model = create(ModelConfig.from_dict(state["model_config"]))
        model.load_state_dict(state["model"])
        if ema is not None:
            model.generator.load_state_dict(ema)
    except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as err:  # weights that don't fit the config
        raise CheckpointError(f"{path}: a damaged training checkpoint, its weights don't fit its model_config "
                              f"({type(err).__name__}: {' '.join(str(err).split())[:300]})") from None
    if ema is not None:
        refresh_spectral_norm(model.generator)
    model.checkpoint_info = {"path": str(path), "step": state.get("step"), "holdout": list(state.get("holdout") or []),
                             "train_config": state.get("train_config", {}), "seconds": state.get("seconds", 0.0)}
    return model.to(device).eval()


@torch.no_grad()
def refresh_spectral_norm(generator: TalkingHeadGenerator, iterations: int = 30) -> None:
    """Re-estimate spectral norms after averaging weights: the averaged power-iteration
    vectors (u, v) don't belong to the averaged weights. In training mode every forward
    runs one power iteration per layer, so a few dummy forwards set them right."""
    size, dim = generator.config.image_size, generator.config.embed_dim
    landmarks, e_hat = torch.zeros(1, 3, size, size), torch.ones(1, dim)
    extra = generator.example_conditioning(1)
    generator.train()
    for _ in range(iterations):
        generator(landmarks, e_hat, **extra)
    generator.eval()


def crop_shots(images: list[np.ndarray], size: int, detector, names=None, margin: float = CROP_MARGIN):
    """Detect, crop and resize portraits like ``fsth preprocess``: (K, S, S, 3), (K, 68, 2)."""
    crops, points = [], []
    for i, image in enumerate(images):
        found = detector.detect(image, source=names[i] if names else f"shot {i}")
        crop, moved, _ = crop_face(image, face_box(found, margin=margin), size, found)
        crops.append(crop)
        points.append(moved)
    return np.stack(crops), np.stack(points)


def save_person(path: str | os.PathLike, person: Person) -> Path:
    """Write a person file (safe-loading, atomic): the personalised G, ê and the shots."""
    return save_checkpoint(path, {
        "kind": PERSON_FORMAT, "model_config": person.generator.config.to_dict(),
        "generator": person.generator.state_dict(), "e_hat": person.e_hat.cpu(),
        "shots": torch.from_numpy(person.shots), "landmarks": torch.from_numpy(person.landmarks),
        "steps": person.steps, "synthetic_note": "fsth person model: renders synthetic media"})


def load_person(path: str | os.PathLike, device="cpu") -> Person:
    """A person file written by :func:`save_person` (``fsth finetune``), ready to render."""
    from .io.checkpoint import check_finite, check_shots

    state = load_checkpoint(path)
    if state.get("kind") != PERSON_FORMAT:
        raise CheckpointError(f"{path}: not an fsth person file (a training checkpoint? load it with fsth.person.load_model)")
    missing = [k for k in ("model_config", "generator", "e_hat", "shots", "landmarks") if k not in state]
    if missing or not isinstance(state["generator"], dict):
        raise CheckpointError(f"{path}: a damaged person file ({f'missing {missing}' if missing else 'no generator weights'})")
    check_finite(path, state["generator"], "the personalised generator")
    check_shots(path, state["shots"], state["landmarks"])
    try:
        generator = create_generator(ModelConfig.from_dict(state["model_config"]))
        generator.personalize(torch.zeros(generator.config.embed_dim))  # makes room for ψ′; the file fills it
        generator.load_state_dict(state["generator"])
    except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as err:  # weights that don't fit the config
        raise CheckpointError(f"{path}: a damaged person file, its generator doesn't fit its model_config "
                              f"({type(err).__name__}: {' '.join(str(err).split())[:300]})") from None
    e_hat = state["e_hat"]
    if not isinstance(e_hat, torch.Tensor) or e_hat.numel() != generator.config.embed_dim:
        raise CheckpointError(f"{path}: e_hat must hold {generator.config.embed_dim} numbers (the embedding size)")
    check_finite(path, {"e_hat": e_hat}, "the person's embedding")
    steps = state.get("steps", 0)
    return Person(generator.to(device).eval(), e_hat.to(device), state["shots"].numpy(),
                  state["landmarks"].float().numpy(), steps if isinstance(steps, int) else 0)


def export_model(checkpoint: str | os.PathLike, out: str | os.PathLike, half: bool = True) -> Path:
    """A slim, shippable copy of a training checkpoint: E, G (its moving average if there
    is one) and D in float16, the configs, the step and the wall time — no optimiser."""
    state = load_checkpoint(checkpoint)
    model = load_model(checkpoint, use_ema=True)
    weights = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    return save_checkpoint(out, {"model": weights, "model_config": state["model_config"],
                                 "train_config": state["train_config"], "step": state["step"],
                                 "seconds": state.get("seconds", 0.0), "holdout": state.get("holdout", [])})
