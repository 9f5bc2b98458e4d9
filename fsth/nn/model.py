"""The three networks together, created by preset name: ``fsth.nn.create("tiny", num_videos=500)``."""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig, get_config
from .discriminator import Discriminator
from .embedder import Embedder
from .generator import Generator


class TalkingHeads(nn.Module):
    """E, G and D of one configuration; ``config`` is saved with the weights."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedder = Embedder(config)
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in getattr(self, name).parameters())
                for name in ("embedder", "generator", "discriminator")}

    @torch.no_grad()
    def reenact(self, shots: torch.Tensor, shot_landmarks: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """Feed-forward use: K shots (K, 3, S, S) + their landmark images -> frames for
        ``landmarks`` (T, 3, S, S). All in [-1, 1]."""
        e_hat = self.embedder.embed(shots[None], shot_landmarks[None])
        return self.generator(landmarks, e_hat.expand(len(landmarks), -1))

    def grow(self, num_videos: int) -> None:
        self.discriminator.grow(num_videos)
        self.config = self.discriminator.config


def create(name_or_config: str | ModelConfig | dict = "tiny", **overrides) -> TalkingHeads:
    """Create E, G and D by preset name (``tiny``, ``small``, ``paper``) or config, e.g.
    ``create("tiny", num_videos=len(dataset))``; keyword arguments override config fields."""
    return TalkingHeads(get_config(name_or_config, **overrides))
