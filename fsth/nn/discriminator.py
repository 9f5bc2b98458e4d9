"""The discriminator D(x, y, i) -> realism r = V(x, y)ᵀ(Wᵢ + w₀) + b (a projection discriminator).

V is the embedder's design plus one more residual block. W has one row per training
video; it is an embedding with sparse gradients, so a step touches only the rows of the
videos in the batch — VoxCeleb2's ~145k videos cost nothing per step. ``grow`` adds rows
when training continues on a larger dataset.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import block_classes
from .config import ModelConfig
from .embedder import DownTrunk


class Discriminator(nn.Module):
    def __init__(self, config: ModelConfig, blocks: dict | None = None):
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.trunk = DownTrunk(config, in_channels=6, out_channels=dim, blocks=blocks)
        self.extra = block_classes(blocks).ResBlock(dim, norm="none")
        self.W = nn.Embedding(config.num_videos, dim, sparse=True)
        nn.init.normal_(self.W.weight, std=0.02)
        self.w0 = nn.Parameter(torch.zeros(dim).normal_(std=0.02))
        self.b = nn.Parameter(torch.zeros(()))
        self.w_personal = None  # w′ = w₀ + ê after personalize()

    @property
    def num_videos(self) -> int:
        return self.W.num_embeddings

    def features(self, images: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """V(x, y): (B, embed_dim), and the intermediate activations used for feature matching."""
        feats = self.trunk(torch.cat([images, landmarks], dim=1))
        feats.append(self.extra(feats[-1]))
        v = F.relu(feats[-1]).sum(dim=(2, 3)).float()
        return v, feats

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor,
                video: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images, landmarks: (B, 3, S, S); video: (B,) indices into W, or None after
        personalize(). Returns realism scores (B,) and the list of features."""
        v, feats = self.features(images, landmarks)
        if video is None:
            if self.w_personal is None:
                raise ValueError("Discriminator needs video indices unless personalised")
            w = self.w_personal.unsqueeze(0)
        else:
            if int(video.max()) >= self.num_videos or int(video.min()) < 0:
                raise IndexError(f"video index out of range for {self.num_videos} videos: {video.tolist()}")
            w = self.W(video) + self.w0
        return (v * w).sum(dim=1) + self.b, feats

    @torch.no_grad()
    def personalize(self, e_hat: torch.Tensor) -> None:
        """w′ = w₀ + ê (trainable), b′ = b: the paper's fine-tuning initialisation."""
        self.w_personal = nn.Parameter(self.w0 + e_hat.reshape(-1).float())

    @torch.no_grad()
    def grow(self, num_videos: int) -> None:
        """Make room for ``num_videos`` videos; existing rows of W are kept as they are."""
        if num_videos < self.num_videos:
            raise ValueError(f"cannot shrink W from {self.num_videos} to {num_videos} videos")
        if num_videos == self.num_videos:
            return
        old = self.W.weight
        grown = nn.Embedding(num_videos, old.shape[1], sparse=True).to(old.device, old.dtype)
        nn.init.normal_(grown.weight, std=0.02)
        grown.weight[: len(old)] = old
        self.W = grown
        self.config = type(self.config)(**{**self.config.to_dict(), "num_videos": num_videos})
