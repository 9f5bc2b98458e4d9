"""The embedder E(x, y) -> e: a frame and its landmark image to one identity vector."""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from .blocks import SelfAttention, block_classes
from .config import ModelConfig


class DownTrunk(nn.Module):
    """Residual downsampling blocks from (B, in_channels, S, S) to (B, C, 4, 4), with
    self-attention at ``config.attention_size``. Shared design of E and of D's V."""

    def __init__(self, config: ModelConfig, in_channels: int = 6, out_channels: int | None = None,
                 blocks: dict | None = None):
        super().__init__()
        ResBlockDown = block_classes(blocks).ResBlockDown
        widths = [config.width(i) for i in range(config.downs)]
        widths[-1] = out_channels or widths[-1]
        layers, cin, size = [], in_channels, config.image_size
        for i, cout in enumerate(widths):
            layers.append(ResBlockDown(cin, cout, preactivate=i > 0))
            size //= 2
            if size == config.attention_size:
                layers.append(SelfAttention(cout))
            cin = cout
        self.layers = nn.ModuleList(layers)
        self.out_channels = cin
        self.checkpoint = False  # recompute activations in backward: less memory, ~1/3 more compute

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All intermediate activations, last one (B, C, 4, 4) included."""
        features = []
        for layer in self.layers:
            if self.checkpoint and self.training and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            features.append(x)
        return features


class Embedder(nn.Module):
    """E(x, y) -> e of size embed_dim; for K frames of one video the vectors are averaged."""

    def __init__(self, config: ModelConfig, blocks: dict | None = None):
        super().__init__()
        self.config = config
        self.trunk = DownTrunk(config, in_channels=6, out_channels=config.embed_dim, blocks=blocks)

    def forward(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """frames, landmarks: (B, 3, S, S) in [-1, 1] -> e: (B, embed_dim)."""
        h = self.trunk(torch.cat([frames, landmarks], dim=1))[-1]
        return F.relu(h).sum(dim=(2, 3)).float()

    def embed(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """K frames per video: (B, K, 3, S, S) each -> ê: (B, embed_dim), the mean over K."""
        b, k = frames.shape[:2]
        e = self(frames.flatten(0, 1), landmarks.flatten(0, 1))
        return e.view(b, k, -1).mean(dim=1)
