"""What renders live: a baseline with its map at 64 px, or the model prepared for a stream.

Any ``fsth.render.Renderer`` can drive the live loop; these are the ones made fast enough for it:

- ``guided-warp`` and ``warp`` (``fsth.baselines``) with ``map_size=64``: the piecewise-affine
  map (a Delaunay mesh and a point location per pixel) is computed at 64 px and upsampled, 1/16
  of the work at 256 px for a fraction of a pixel;
- ``model``: the shipped talking-head model (or ``checkpoint``) personalised on the portrait
  (``fsth.train.finetune``, ``ft_steps`` 0: feed-forward), wrapped in :class:`StreamingPerson`.

:class:`StreamingPerson` renders exactly what ``Person.render`` renders (the same operations on
the same numbers) with the per-frame work it can skip done once: the generator's
spectral-normalised weights are computed once and kept as plain weights (``Person.render``
recomputes every layer's normalisation on each call, and switches every module to eval mode),
the shots are resized and converted to tensors once, and the precision and memory layout are
chosen once (``fsth.hardware.choose``).

Torch's threads (:data:`LIVE_THREADS`): one. Each torch op split over two threads waits for the
slower one, and when anything else runs on the machine (the browser showing the page, the camera)
that one is waiting for the scheduler: on a busy 2-core machine two threads made the warp's
rendering 35x slower and the model's 10 to 70x, one thread left them as they were. On an idle
machine a second thread gains the model ~25 % and the warps nothing, and the second core is free
for decoding, tracking and encoding beside the rendering.
"""
from __future__ import annotations

import numpy as np
import torch

from ..baselines import create_baseline
from ..hardware import autocast, choose
from ..io.tensors import resize_frames, to_tensor, to_uint8
from ..landmarks.draw import draw_landmarks
from ..nn.base import create_generator
from ..nn.conditioning import build as build_conditioning

METHODS = ("guided-warp", "warp", "model")
MAP_SIZE = 64  # px: where the baselines compute their map
LIVE_THREADS = 1  # torch threads while rendering live (see the module's docstring)


class StreamingPerson:
    """A ``fsth.person.Person`` for one frame at a time (a :class:`fsth.render.Renderer`); see the
    module's docstring. amp, channels_last: as ``fsth.hardware.choose`` ("auto": what this
    hardware does fastest)."""

    def __init__(self, person, amp: str = "auto", channels_last: bool | str = "auto"):
        from torch.nn.utils import parametrize

        self.shots, self.landmarks, self.steps = person.shots, np.asarray(person.landmarks, np.float32), person.steps
        device = next(person.generator.parameters()).device
        config = person.generator.config
        generator = create_generator(config)  # a copy of its own: baking a parametrization changes its class
        generator.personalize(torch.zeros(config.embed_dim))
        generator.load_state_dict(person.generator.state_dict())
        generator.to(device).eval()
        with torch.no_grad():
            for module in generator.modules():
                if parametrize.is_parametrized(module):
                    for name in list(module.parametrizations):
                        parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        self.precision = choose(device, amp, channels_last)
        if self.precision.channels_last:
            generator.to(memory_format=torch.channels_last)
        self.generator, self.device = generator, device
        self.model_size = config.image_size
        small, self.small_points = resize_frames(self.shots, self.landmarks, self.model_size)
        self.small_shots = to_tensor(small).to(device)
        self.full_shots = to_tensor(self.shots)[None].to(device) if self.size != self.model_size else None

    @property
    def size(self) -> int:
        return int(self.shots.shape[1])

    @torch.inference_mode()
    def render(self, landmarks: np.ndarray, batch: int = 16) -> np.ndarray:
        """Frames for landmarks (T, 68, 2) in crop pixels: uint8 (T, S, S, 3), as ``Person.render``."""
        targets = np.asarray(landmarks, np.float32).reshape(-1, 68, 2)
        out = []
        for start in range(0, len(targets), batch):
            chunk = (targets[start:start + batch] + 0.5) * (self.model_size / self.size) - 0.5
            drawn = to_tensor(draw_landmarks(chunk, self.model_size)).to(self.device)
            inputs = build_conditioning(self.generator.conditioning, self.small_shots, self.small_points, chunk,
                                        self.model_size)
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            full = None if self.full_shots is None else self.full_shots.expand(len(chunk), -1, -1, -1, -1)
            with autocast(self.device, self.precision.amp):
                frames = self.generator.full_resolution(drawn, None, self.size, full_shots=full, **inputs)
            out.append(to_uint8(frames))
        return np.concatenate(out)

    def render_one(self, points: np.ndarray) -> np.ndarray:
        """One frame (S, S, 3) for points (68, 2)."""
        return self.render(np.asarray(points, np.float32)[None])[0]


def live_renderer(method: str, shots: np.ndarray, points: np.ndarray, checkpoint=None, ft_steps: int = 0,
                  amp: str = "auto", map_size: int = MAP_SIZE, seed: int = 0):
    """The renderer ``method`` (one of :data:`METHODS`) for the portrait ``shots`` uint8
    (K, S, S, 3) with landmarks (K, 68, 2); ``model`` loads ``checkpoint`` (default: the shipped
    model) and fine-tunes it ``ft_steps`` on the shots first."""
    if method in ("guided-warp", "warp"):
        return create_baseline(method, shots, points, map_size=map_size)
    if method != "model":
        raise ValueError(f"unknown live method {method!r}; choose from {', '.join(METHODS)}")
    from ..assets import SHIPPED_MODEL, pretrained_path
    from ..person import load_model
    from ..train.finetune import finetune

    model = load_model(checkpoint or pretrained_path(SHIPPED_MODEL))
    person = finetune(model, shots, points, steps=ft_steps, amp=amp, seed=seed, progress=False)
    return StreamingPerson(person, amp)
