"""The generator G(y, ê) -> image: landmark image in, the person's face out.

An encoder (residual downsampling with instance norm) and a decoder (residual
upsampling) with AdaIN everywhere in the decoder and the bottleneck. All AdaIN scales
and biases come from one projection ψ̂ = P·ê; after ``personalize`` they are ψ′,
trainable parameters of their own (few-shot fine-tuning).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import TalkingHeadGenerator, register_generator
from .blocks import SelfAttention, block_classes, sn_conv, sn_linear
from .config import ModelConfig


@register_generator("synth")
class Generator(TalkingHeadGenerator):
    """The paper's G: paints every pixel from the landmark image and ψ (no other conditioning).

    in_channels: 3 for the landmark image; the warping generator adds its warped shots.
    blocks: other classes for its blocks, by role (``fsth.nn.blocks.block_classes``)."""

    def __init__(self, config: ModelConfig, in_channels: int = 3, blocks: dict | None = None):
        super().__init__()
        self.config = config
        B = block_classes(blocks)
        widths = [config.width(i) for i in range(config.generator_downs)]
        size = config.image_size

        down, cin = [], in_channels
        for i, cout in enumerate(widths):
            down.append(B.ResBlockDown(cin, cout, norm="instance", preactivate=i > 0))
            size //= 2
            if size == config.attention_size:
                down.append(SelfAttention(cout))
            cin = cout
        self.down = nn.ModuleList(down)
        self.bottleneck = nn.ModuleList(B.ResBlock(cin, norm="adain") for _ in range(config.generator_res_blocks))
        # Every AdaIN, in the order forward() meets it: how many numbers of ψ it takes (2 per channel)
        self.adain_sizes = [4 * cin] * config.generator_res_blocks

        up = []
        for cout in reversed([widths[0]] + widths[:-1]):
            up.append(B.ResBlockUp(cin, cout))
            self.adain_sizes.append(2 * cin + 2 * cout)
            size *= 2
            if size == config.attention_size:
                up.append(SelfAttention(cout))
            cin = cout
        self.up = nn.ModuleList(up)
        self.out_norm = B.AdaIN(cin)
        self.to_rgb = sn_conv(cin, 3)
        self.adain_sizes.append(2 * cin)
        self.num_adain_params = sum(self.adain_sizes)
        self.projection = sn_linear(config.embed_dim, self.num_adain_params)  # P
        self.psi = None  # ψ′ after personalize()

    def adain_params(self, e_hat: torch.Tensor | None, batch: int) -> torch.Tensor:
        """ψ: (B, num_adain_params) — P·ê, or the personalised ψ′."""
        if e_hat is None:
            if self.psi is None:
                raise ValueError("Generator needs e_hat unless it was personalised with personalize()")
            return self.psi.expand(batch, -1)
        return self.projection(e_hat.float())

    @torch.no_grad()
    def personalize(self, e_hat: torch.Tensor) -> None:
        """Turn ψ′ = P·ê into a trainable parameter (the paper's fine-tuning initialisation).

        e_hat: (embed_dim,) or (1, embed_dim). Afterwards call the generator without ê.
        """
        self.psi = nn.Parameter(self.projection(e_hat.reshape(1, -1).float()).clone())

    def features(self, inputs: torch.Tensor, e_hat: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's last features (B, C, S, S), before the RGB layer."""
        psi = iter(self.adain_params(e_hat, inputs.shape[0]).split(self.adain_sizes, dim=1))
        x = inputs
        for block in self.down:
            x = block(x)
        for block in self.bottleneck:
            x = block(x, next(psi))
        for block in self.up:
            x = block(x) if isinstance(block, SelfAttention) else block(x, next(psi))
        return F.relu(self.out_norm(x, next(psi)))

    def forward(self, landmarks: torch.Tensor, e_hat: torch.Tensor | None = None) -> torch.Tensor:
        """landmarks: (B, 3, S, S) in [-1, 1]; e_hat: (B, embed_dim) -> image (B, 3, S, S) in [-1, 1]."""
        return torch.tanh(self.to_rgb(self.features(landmarks, e_hat)))
