"""What every generator offers the rest of fsth, and the registry that finds one by name.

    @register_generator("mine")                 # the one line that makes ModelConfig(generator="mine") work
    class MyGenerator(TalkingHeadGenerator):
        conditioning = ("target_points",)      # what forward() needs beyond (landmarks, ê)
        ...

Training, fine-tuning, rendering and the course never ask which generator they hold: they
build the inputs a generator names in ``conditioning`` (``fsth.nn.conditioning``) and pass
them by keyword, and they personalise it through ``personalize`` (ψ′ = P·ê).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

GENERATORS: dict[str, type["TalkingHeadGenerator"]] = {}


def register_generator(name: str):
    """Class decorator: make a generator available as ``ModelConfig(generator=name)``."""

    def add(cls):
        if name in GENERATORS and GENERATORS[name] is not cls:
            raise ValueError(f"a generator named {name!r} is already registered ({GENERATORS[name].__name__})")
        GENERATORS[name] = cls
        cls.registered_name = name
        return cls

    return add


def generator_names() -> list[str]:
    _builtin()
    return sorted(GENERATORS)


def create_generator(config, blocks: dict | None = None) -> "TalkingHeadGenerator":
    """The generator ``config.generator`` names, built for ``config`` (a ModelConfig); ``blocks``:
    other block classes by role (fsth.nn.blocks.block_classes), for a generator that takes them."""
    _builtin()
    if config.generator not in GENERATORS:
        raise ValueError(f"unknown generator {config.generator!r}; registered: {', '.join(sorted(GENERATORS))}")
    if blocks:
        return GENERATORS[config.generator](config, blocks=blocks)
    return GENERATORS[config.generator](config)


def _builtin() -> None:
    from . import generator, warp_generator  # noqa: F401  (registers "synth" and "warp")


class TalkingHeadGenerator(nn.Module):
    """G(y, ê, **conditioning) -> image (B, 3, S, S) in [-1, 1].

    A subclass sets ``conditioning`` (names of ``fsth.nn.conditioning.BUILDERS``) and offers
    the personalisation interface: ``projection`` (P), ``num_adain_params``, ``psi`` (ψ′ after
    ``personalize``, else None) and ``personalize(ê)``. ``example_conditioning`` gives inputs
    of the right shapes for a forward pass without data (re-estimating spectral norms).
    """

    conditioning: tuple[str, ...] = ()
    registered_name = "?"

    @property
    def texture_at_full_resolution(self) -> bool:
        """True when :meth:`full_resolution` takes texture from the full-resolution shots (a warping
        G): its fakes keep the shots' detail instead of being upsampled from G's size."""
        return type(self).full_resolution is not TalkingHeadGenerator.full_resolution

    def personalize(self, e_hat: torch.Tensor) -> None:
        raise NotImplementedError

    def reset_motion(self) -> None:
        """Start a new video: forget any state carried from frame to frame (here none)."""

    def stills(self) -> contextlib.AbstractContextManager:
        """A context in which the frames rendered are independent pictures, not a video: nothing
        is carried or smoothed from one to the next (here nothing ever is)."""
        return contextlib.nullcontext()

    def full_resolution(self, landmarks: torch.Tensor, e_hat: torch.Tensor | None, size: int,
                        full_shots: torch.Tensor | None = None, **conditioning) -> torch.Tensor:
        """The image at ``size`` px (B, 3, size, size): by default G's output, upsampled (bicubic).
        A generator that samples the shots overrides this to sample ``full_shots``
        (B, K, 3, size, size), the same shots at full resolution, so texture keeps its detail."""
        image = self(landmarks, e_hat, **conditioning)
        if image.shape[-1] == size:
            return image
        return F.interpolate(image.float(), size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)

    def example_conditioning(self, batch: int = 1) -> dict[str, torch.Tensor]:
        from .conditioning import example

        return example(self.conditioning, batch, self.config.image_size)
