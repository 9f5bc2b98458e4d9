"""The inputs a generator may ask for beyond (landmark image, ê), built in one place.

A generator names what it needs in ``conditioning``; episodes, fine-tuning and rendering call
:func:`build` with the shots, their landmarks and the targets' landmarks, and pass the result
to ``G(landmarks, ê, **inputs)``. Shapes for T targets and K shots of S px:

- ``shots``: (T, K, 3, S, S) in [-1, 1], the person's pictures;
- ``grids``: (T, K, S, S, 2), where each target pixel lies in each shot (the landmark-warp
  baseline, ``fsth.warp.sampling_grids``, grid_sample's coordinates);
- ``target_points``: (T, 68, 2), the targets' landmarks in pixels;
- ``priors``: (T, 2, S, S), where a warp of the first shot must fail: the target's mouth
  interior and its closing eyes (``fsth.landmarks.regions.warp_priors``);
- ``guided_grids``: as ``grids`` with the guard-rails (eyelids that close, a background that
  stays: ``fsth.guardrails.guided_grids``);
- ``cavity``: (T, 4, S, S), a painted mouth interior (RGB in [0, 1], alpha) where the target's
  lips part wider than the first shot's (``fsth.guardrails.mouth_cavity``);
- ``shot_points``: (T, K, 68, 2), the shots' landmarks in pixels.
"""
from __future__ import annotations

import numpy as np
import torch

from ..io.tensors import to_tensor


def _shots(shots, shot_points, target_points, size):
    images = shots if torch.is_tensor(shots) else to_tensor(np.asarray(shots))
    return images[None].expand(len(target_points), *images.shape)


def _grids(shots, shot_points, target_points, size):
    from ..warp import sampling_grids

    return sampling_grids(shot_points, target_points, size)


def _points(shots, shot_points, target_points, size):
    return torch.as_tensor(np.asarray(target_points, np.float32))


def _priors(shots, shot_points, target_points, size):
    from ..landmarks.regions import warp_priors

    return torch.from_numpy(warp_priors(shot_points, target_points, size))


def _guided_grids(shots, shot_points, target_points, size):
    from ..guardrails import guided_grids

    return guided_grids(shot_points, target_points, size)


def _cavity(shots, shot_points, target_points, size):
    from ..guardrails import mouth_cavity

    return torch.from_numpy(mouth_cavity(shot_points, target_points, size))


def _shot_points(shots, shot_points, target_points, size):
    points = torch.as_tensor(np.asarray(shot_points, np.float32).reshape(-1, 68, 2))
    return points[None].expand(len(target_points), *points.shape)


BUILDERS = {"shots": _shots, "grids": _grids, "target_points": _points, "priors": _priors,
            "guided_grids": _guided_grids, "cavity": _cavity, "shot_points": _shot_points}


def check(names) -> None:
    unknown = set(names) - set(BUILDERS)
    if unknown:
        raise ValueError(f"unknown conditioning {sorted(unknown)}; fsth.nn.conditioning builds {sorted(BUILDERS)}")


def build(names, shots, shot_points: np.ndarray, target_points: np.ndarray, size: int) -> dict[str, torch.Tensor]:
    """The inputs ``names`` for T targets: shots uint8 (K, S, S, 3) or float (K, 3, S, S),
    shot_points (K, 68, 2), target_points (T, 68, 2), all in S-pixel crops."""
    target_points = np.asarray(target_points, np.float32).reshape(-1, 68, 2)
    return {name: BUILDERS[name](shots, shot_points, target_points, size) for name in names}


def select(names, batch: dict) -> dict[str, torch.Tensor]:
    """The named inputs out of an episode batch (which holds them under the same names)."""
    return {name: batch[name] for name in names}


def example(names, batch: int, size: int) -> dict[str, torch.Tensor]:
    """Inputs of the right shapes without data: one blank shot, sampled where it is."""
    ramp = torch.linspace(-1 + 1 / size, 1 - 1 / size, size)
    identity = torch.stack(torch.meshgrid(ramp, ramp, indexing="xy"), -1)
    made = {"shots": torch.zeros(batch, 1, 3, size, size), "grids": identity.expand(batch, 1, size, size, 2),
            "target_points": torch.full((batch, 68, 2), size / 2), "priors": torch.zeros(batch, 2, size, size),
            "cavity": torch.zeros(batch, 4, size, size), "shot_points": torch.full((batch, 1, 68, 2), size / 2)}
    made["guided_grids"] = made["grids"]
    return {name: made[name] for name in names}
