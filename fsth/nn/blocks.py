"""Building blocks of the three networks (docs/method.md): spectrally normalised convolutions,
residual down/up/bottleneck blocks, instance norm, AdaIN and self-attention.

Tensors are images in (B, C, H, W); every block works in channels_last and under autocast.

The networks take their block classes from :func:`block_classes`, so a model can be assembled
from other implementations of the same blocks (the course builds one from a learner's):
``fsth.nn.create("tiny", blocks={"ResBlockUp": MyResBlockUp})``. A replacement is called with
fsth's signature — ``ResBlockDown(cin, cout, norm=..., preactivate=...)``, ``ResBlock(channels,
norm=...)``, ``ResBlockUp(cin, cout)`` (forward(x, psi)), ``AdaIN(channels)`` (forward(x, psi)) —
and should name its weights as fsth's block does, so checkpoints load either way.
"""
from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def sn_conv(cin: int, cout: int, kernel: int = 3) -> nn.Conv2d:
    """A convolution with spectral normalisation (padding keeps the size)."""
    return spectral_norm(nn.Conv2d(cin, cout, kernel, padding=kernel // 2))


def sn_linear(cin: int, cout: int) -> nn.Linear:
    return spectral_norm(nn.Linear(cin, cout))


class AdaIN(nn.Module):
    """Adaptive instance norm: normalise each channel of each image, then scale and shift
    by per-image parameters ψ = (scale, bias) that come from outside (the projection P·ê).

    forward(x (B, C, H, W), psi (B, 2C)) -> (B, C, H, W)
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels = channels
        self.num_params = 2 * channels
        self.eps = eps

    def forward(self, x: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        scale, bias = psi.to(x.dtype).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return F.instance_norm(x, eps=self.eps) * scale + bias


class ResBlockDown(nn.Module):
    """Pre-activation residual block that halves the resolution (BigGAN-style).

    norm: "none" (embedder, discriminator) or "instance" (the generator's encoder).
    """

    def __init__(self, cin: int, cout: int, norm: str = "none", preactivate: bool = True):
        super().__init__()
        self.preactivate = preactivate
        self.conv1, self.conv2 = sn_conv(cin, cout), sn_conv(cout, cout)
        self.skip = sn_conv(cin, cout, 1)
        def make_norm(c):
            return nn.InstanceNorm2d(c, affine=True) if norm == "instance" else nn.Identity()

        self.norm1 = make_norm(cin) if preactivate else nn.Identity()  # the input isn't normalised
        self.norm2 = make_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(x)) if self.preactivate else x
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x, 2))


class ResBlock(nn.Module):
    """Residual block at constant resolution; normalised by AdaIN (generator bottleneck),
    instance norm, or nothing (the discriminator's extra block)."""

    def __init__(self, channels: int, norm: str = "adain", adain: type = AdaIN):
        super().__init__()
        self.norm_kind = norm
        self.conv1, self.conv2 = sn_conv(channels, channels), sn_conv(channels, channels)
        if norm == "adain":
            self.norm1, self.norm2 = adain(channels), adain(channels)
        elif norm == "instance":
            self.norm1, self.norm2 = (nn.InstanceNorm2d(channels, affine=True) for _ in range(2))
        else:
            self.norm1 = self.norm2 = None

    @property
    def adain_params(self) -> int:
        return 2 * self.norm1.num_params if self.norm_kind == "adain" else 0

    def _norm(self, norm, x, psi):
        if norm is None:
            return x
        return norm(x, psi) if self.norm_kind == "adain" else norm(x)

    def forward(self, x: torch.Tensor, psi: torch.Tensor | None = None) -> torch.Tensor:
        p1, p2 = psi.chunk(2, dim=1) if psi is not None else (None, None)
        h = self.conv1(F.relu(self._norm(self.norm1, x, p1)))
        h = self.conv2(F.relu(self._norm(self.norm2, h, p2)))
        return x + h


class ResBlockUp(nn.Module):
    """Residual block that doubles the resolution, normalised by AdaIN.

    forward(x (B, cin, H, W), psi (B, adain_params)) -> (B, cout, 2H, 2W)
    """

    def __init__(self, cin: int, cout: int, adain: type = AdaIN):
        super().__init__()
        self.norm1, self.norm2 = adain(cin), adain(cout)
        self.conv1, self.conv2 = sn_conv(cin, cout), sn_conv(cout, cout)
        self.skip = sn_conv(cin, cout, 1)

    @property
    def adain_params(self) -> int:
        return self.norm1.num_params + self.norm2.num_params

    def forward(self, x: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        p1, p2 = psi.split([self.norm1.num_params, self.norm2.num_params], dim=1)
        h = F.interpolate(F.relu(self.norm1(x, p1)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), p2)))
        # a 1x1 convolution commutes with nearest upsampling: convolve first, 4x cheaper
        return h + F.interpolate(self.skip(x), scale_factor=2, mode="nearest")


class SelfAttention(nn.Module):
    """Self-attention over all positions (SAGAN), keys and values pooled 2x (BigGAN).

    The residual gain starts small, so the block begins close to the identity.
    """

    def __init__(self, channels: int, gain: float = 0.1):
        super().__init__()
        self.query, self.key = sn_conv(channels, channels // 8, 1), sn_conv(channels, channels // 8, 1)
        self.value = sn_conv(channels, channels // 2, 1)
        self.out = sn_conv(channels // 2, channels, 1)
        self.gain = nn.Parameter(torch.tensor(gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        pooled = F.max_pool2d(x, 2)
        k = self.key(pooled).flatten(2).transpose(1, 2)  # (B, HW/4, C/8)
        v = self.value(pooled).flatten(2).transpose(1, 2)  # (B, HW/4, C/2)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C/2)
        attended = attended.transpose(1, 2).reshape(b, c // 2, h, w)
        return x + self.gain.to(x.dtype) * self.out(attended.contiguous(memory_format=torch.channels_last)
                                                     if x.is_contiguous(memory_format=torch.channels_last)
                                                     else attended)


BLOCK_ROLES = ("ResBlockDown", "ResBlock", "ResBlockUp", "AdaIN")


def block_classes(blocks: dict | None = None) -> SimpleNamespace:
    """The classes the networks are built from: fsth's, or the ``blocks`` given by role
    (:data:`BLOCK_ROLES`). An AdaIN given alone also goes into fsth's ResBlock and ResBlockUp."""
    blocks = dict(blocks or {})
    unknown = set(blocks) - set(BLOCK_ROLES)
    if unknown:
        raise ValueError(f"unknown block role(s) {sorted(unknown)}; roles are {', '.join(BLOCK_ROLES)}")
    adain = blocks.get("AdaIN", AdaIN)
    return SimpleNamespace(ResBlockDown=blocks.get("ResBlockDown", ResBlockDown),
                           ResBlock=blocks.get("ResBlock") or partial(ResBlock, adain=adain),
                           ResBlockUp=blocks.get("ResBlockUp") or partial(ResBlockUp, adain=adain), AdaIN=adain)
