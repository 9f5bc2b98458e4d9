"""The three networks together, created by preset name: ``fsth.nn.create("tiny", num_videos=500)``."""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig, get_config
from .discriminator import Discriminator
from .embedder import Embedder
from .generator import Generator
from .warp_generator import WarpGenerator


class TalkingHeads(nn.Module):
    """E, G and D of one configuration; ``config`` is saved with the weights."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedder = Embedder(config)
        self.generator = WarpGenerator(config) if config.generator == "warp" else Generator(config)
        self.discriminator = Discriminator(config)

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in getattr(self, name).parameters())
                for name in ("embedder", "generator", "discriminator")}

    @property
    def warps(self) -> bool:
        """True when G warps the shots (it then needs them and their sampling grids)."""
        return isinstance(self.generator, WarpGenerator)

    @torch.no_grad()
    def reenact(self, shots: torch.Tensor, shot_landmarks: torch.Tensor, landmarks: torch.Tensor,
                grids: torch.Tensor | None = None) -> torch.Tensor:
        """Feed-forward use: K shots (K, 3, S, S) + their landmark images -> frames for
        ``landmarks`` (T, 3, S, S). All in [-1, 1]. A warping G also needs ``grids``
        (T, K, S, S, 2) from ``fsth.warp.sampling_grids``."""
        e_hat = self.embedder.embed(shots[None], shot_landmarks[None]).expand(len(landmarks), -1)
        if self.warps:
            return self.generator(landmarks, e_hat, shots[None].expand(len(landmarks), -1, -1, -1, -1), grids)
        return self.generator(landmarks, e_hat)

    def grow(self, num_videos: int) -> None:
        self.discriminator.grow(num_videos)
        self.config = self.discriminator.config


def create(name_or_config: str | ModelConfig | dict = "tiny", **overrides) -> TalkingHeads:
    """Create E, G and D by preset name (``tiny``, ``small``, ``paper``) or config, e.g.
    ``create("tiny", num_videos=len(dataset))``; keyword arguments override config fields."""
    return TalkingHeads(get_config(name_or_config, **overrides))
