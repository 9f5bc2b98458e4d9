"""The warping generator: move the person's own pixels, paint only what warping can't.

    G(y_t, ê; x_1..K, grid_1..K) = Σ_k m_k · x_k∘(grid_k + Δ_k)  +  m_synth · synth

- grid_k: where each target pixel is in shot k, from the landmark-warp baseline
  (``fsth.warp.sampling_grids``: piecewise-affine over the 68 points);
- Δ_k: a learned correction of that flow (what a mesh of 68 points gets wrong);
- m: a soft mask over the K shots and the synthesis path (softmax per pixel);
- synth: the paper's generator, here fed the target landmark image *and* the mean of the
  warped shots, so it paints mouth interiors and disocclusions that match the face.

All AdaIN parameters still come from ψ̂ = P·ê, so personalisation (ψ′ = P·ê), the
discriminator and fine-tuning work as for the pure-synthesis generator. The flow and mask
heads start at zero — Δ = 0 and a mask that trusts the warp (σ(2) ≈ 0.88 for one shot) — so
training starts from the baseline, which already keeps the person's identity.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import TalkingHeadGenerator, register_generator
from .blocks import sn_conv
from .config import ModelConfig
from .generator import Generator

SYNTH_PRIOR = -2.0  # initial mask logit of the synthesis path (the shots' logits start at 0)


def sample(images: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
    """images (N, 3, S, S) sampled at grids (N, S, S, 2) in grid_sample's [-1, 1] coordinates."""
    return F.grid_sample(images, grids.to(images.dtype), mode="bilinear", padding_mode="border",
                         align_corners=False)


@register_generator("warp")
class WarpGenerator(TalkingHeadGenerator):
    """Needs the shots and the baseline grids from each shot to the target."""

    conditioning = ("shots", "grids")

    def __init__(self, config: ModelConfig, max_shift: float = 0.15):
        super().__init__()
        self.config, self.max_shift = config, max_shift
        self.synth = Generator(config, in_channels=6)  # target landmarks + mean warped shot
        width = config.width(0)
        # plain convolutions, zero-initialised: spectral norm of a zero weight is undefined
        self.flow_head = nn.Sequential(sn_conv(width + 3, width), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))
        self.synth_logit = nn.Conv2d(width, 1, 3, padding=1)
        for conv in (self.flow_head[-1], self.synth_logit):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.synth_logit.bias, SYNTH_PRIOR)

    # the personalisation interface of Generator, delegated to the synthesis path
    @property
    def num_adain_params(self) -> int:
        return self.synth.num_adain_params

    @property
    def projection(self) -> nn.Module:
        return self.synth.projection

    @property
    def psi(self):
        return self.synth.psi

    def personalize(self, e_hat: torch.Tensor) -> None:
        self.synth.personalize(e_hat)

    def forward(self, landmarks: torch.Tensor, e_hat: torch.Tensor | None = None, shots: torch.Tensor | None = None,
                grids: torch.Tensor | None = None, return_parts: bool = False):
        """landmarks (B, 3, S, S); e_hat (B, embed_dim) or None after personalize();
        shots (B, K, 3, S, S) in [-1, 1]; grids (B, K, S, S, 2): the baseline sampling positions.
        Returns the image (B, 3, S, S), or a dict with the mask, flows and both paths."""
        if shots is None or grids is None:
            raise ValueError("the warping generator needs the shots and their sampling grids "
                             "(fsth.nn.conditioning.build(generator.conditioning, ...))")
        b, k = shots.shape[:2]
        flat_shots, flat_grids = shots.flatten(0, 1), grids.flatten(0, 1)
        warped = sample(flat_shots, flat_grids)  # (B·K, 3, S, S)
        features = self.synth.features(torch.cat([landmarks, warped.unflatten(0, (b, k)).mean(1)], 1), e_hat)
        synth = torch.tanh(self.synth.to_rgb(features))
        head = self.flow_head(torch.cat([features.repeat_interleave(k, 0), warped], 1))  # (B·K, 3, S, S)
        delta = torch.tanh(head[:, :2].float()).permute(0, 2, 3, 1) * self.max_shift
        refined = sample(flat_shots, flat_grids + delta).unflatten(0, (b, k))
        logits = torch.cat([head[:, 2:].unflatten(0, (b, k)), self.synth_logit(features)[:, None]], 1)
        mask = torch.softmax(logits.float(), dim=1)  # (B, K + 1, 1, S, S)
        image = (mask[:, :k] * refined.float()).sum(1) + mask[:, k] * synth.float()
        if return_parts:
            return {"image": image, "mask": mask, "delta": delta.unflatten(0, (b, k)), "warped": refined,
                    "synth": synth}
        return image
