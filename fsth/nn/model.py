"""The three networks together, created by preset name: ``fsth.nn.create("tiny", num_videos=500)``."""
from __future__ import annotations

import torch
from torch import nn

from .base import create_generator
from .config import ModelConfig, get_config
from .discriminator import Discriminator
from .embedder import Embedder


class TalkingHeads(nn.Module):
    """E, G and D of one configuration; ``config`` is saved with the weights. G is whichever
    registered generator ``config.generator`` names (fsth.nn.base). ``blocks``: other classes for
    the networks' blocks, by role (``fsth.nn.blocks.block_classes``); None: fsth's."""

    def __init__(self, config: ModelConfig, blocks: dict | None = None):
        super().__init__()
        self.config = config
        self.embedder = Embedder(config, blocks=blocks)
        self.generator = create_generator(config, blocks=blocks)
        self.discriminator = Discriminator(config, blocks=blocks)

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in getattr(self, name).parameters())
                for name in ("embedder", "generator", "discriminator")}

    @torch.no_grad()
    def reenact(self, shots: torch.Tensor, shot_landmarks: torch.Tensor, landmarks: torch.Tensor,
                **conditioning) -> torch.Tensor:
        """Feed-forward use: K shots (K, 3, S, S) + their landmark images -> frames for
        ``landmarks`` (T, 3, S, S). All in [-1, 1]. ``conditioning``: what G asks for beyond
        the shots (fsth.nn.conditioning.build), e.g. ``grids`` (T, K, S, S, 2)."""
        e_hat = self.embedder.embed(shots[None], shot_landmarks[None]).expand(len(landmarks), -1)
        given = {"shots": shots[None].expand(len(landmarks), -1, -1, -1, -1), **conditioning}
        return self.generator(landmarks, e_hat, **{name: given[name] for name in self.generator.conditioning})

    def grow(self, num_videos: int) -> None:
        self.discriminator.grow(num_videos)
        self.config = self.discriminator.config


def create(name_or_config: str | ModelConfig | dict = "tiny", blocks: dict | None = None, **overrides) -> TalkingHeads:
    """Create E, G and D by preset name (``tiny``, ``small``, ``paper``) or config, e.g.
    ``create("tiny", num_videos=len(dataset))``; keyword arguments override config fields.
    ``blocks``: other classes for the blocks, by role, e.g. ``{"ResBlockUp": MyResBlockUp}``
    (``fsth.nn.blocks.block_classes``: the same signatures and weight names as fsth's)."""
    return TalkingHeads(get_config(name_or_config, **overrides), blocks=blocks)
