"""The paper's losses as small functions, and the content loss's feature networks.

Generator side: content (VGG19 and VGGFace activations), adversarial (−D), feature
matching over D's activations, and L_MCH (‖Wᵢ − êᵢ‖₁); discriminator side: hinge.
Images are (B, 3, H, W) in [-1, 1]. Scores go into the hinge raw — never through a sigmoid.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .io.checkpoint import safe_torch_load

log = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet weights, as the torch hub caches them
VGG_LAYERS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1


@dataclass(frozen=True)
class LossWeights:
    """Loss weights; defaults are the paper's ICCV values, plus a pixel L1 term that
    carries the reconstruction on machines without VGG weights."""

    pixel: float = 10.0
    vgg19: float = 1.5e-1
    vggface: float = 2.5e-2
    adversarial: float = 1.0
    feature_matching: float = 10.0
    embedding_match: float = 10.0
    identity: float = 0.0  # dlib descriptor distance to the target (fsth.identity; VGGFace's role, offline)
    regions: float = 0.0  # L1 inside the regions a warp can't show (open mouth, closing eyes), on top of pixel


def hinge_d_loss(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: relu(1 − D(real)) + relu(1 + D(fake)), raw scores."""
    return F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()


def region_l1(fake: torch.Tensor, target: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Mean L1 inside soft ``regions`` (B, 1, S, S) in [0, 1]; 0 for a batch without any region."""
    weight = regions.float()
    return ((fake.float() - target.float()).abs() * weight).sum() / (3 * weight.sum()).clamp_min(1.0)


def adversarial_g_loss(fake_score: torch.Tensor) -> torch.Tensor:
    """Generator adversarial loss: −D(x̂)."""
    return -fake_score.mean()


def feature_matching_loss(fake_features: list[torch.Tensor], real_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between D's activations on fake and real images, summed over layers."""
    return sum(F.l1_loss(f.float(), r.float().detach()) for f, r in zip(fake_features, real_features))


def embedding_match_loss(w_rows: torch.Tensor, e_hat: torch.Tensor) -> torch.Tensor:
    """L_MCH: mean |Wᵢ − êᵢ| over the batch's videos."""
    return (w_rows.float() - e_hat.float()).abs().mean()


class FeatureNet(nn.Module):
    """A frozen VGG-style feature extractor returning activations at chosen layers.

    normalize: maps [-1, 1] RGB to what the network was trained on.
    """

    def __init__(self, features: nn.Sequential, layers=VGG_LAYERS, mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225), scale: float = 1.0):
        super().__init__()
        self.features = features[: max(layers) + 1]
        self.layers = set(layers)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.scale = scale
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True):  # always frozen
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = ((images + 1) / 2 * self.scale - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layers:
                out.append(x)
        return out


def vgg19_net(weights: str | None = "auto") -> FeatureNet | None:
    """VGG19 features with ImageNet normalisation.

    weights: a file path; "auto" for torchvision's file in the torch hub cache (None if it
    isn't there — never downloads); "random" for random weights (benchmarks).
    """
    from torchvision.models import vgg19

    if weights == "auto":
        path = os.path.join(torch.hub.get_dir(), "checkpoints", VGG19_FILE)
        if not os.path.exists(path):
            return None
        weights = path
    model = vgg19()
    if weights != "random":
        model.load_state_dict(safe_torch_load(weights, "VGG19 weights file", error=ValueError))
    return FeatureNet(model.features)


def vggface_net(weights: str | None) -> FeatureNet | None:
    """VGGFace (VGG16 trunk) from a user-supplied state dict: torchvision-style keys
    (``features.N.weight``) or vgg_face_dag-style (``conv1_1.weight`` ...). Inputs are
    RGB in 0-255 minus the VGGFace mean. Returns None without a file."""
    from torchvision.models import vgg16

    if not weights:
        return None
    model = vgg16()
    state = safe_torch_load(weights, "VGGFace weights file", error=ValueError)
    state = state.get("state_dict", state)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    if any(k.startswith("features.") for k in state):
        model.features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                        if k.startswith("features.")})
    else:
        names = sorted({k.rsplit(".", 1)[0] for k in state if k.startswith("conv")},
                       key=lambda n: tuple(int(x) for x in n[4:].split("_")))
        if len(names) != len(convs):
            raise ValueError(f"{weights}: expected {len(convs)} conv layers, found {len(names)}")
        for conv, name in zip(convs, names):
            conv.weight.data.copy_(state[f"{name}.weight"])
            conv.bias.data.copy_(state[f"{name}.bias"])
    return FeatureNet(model.features, layers=(1, 6, 11, 18, 25), mean=(129.186, 104.762, 93.594),
                      std=(1.0, 1.0, 1.0), scale=255.0)


class ContentLoss(nn.Module):
    """Σ weight · L1 between feature-network activations of generated and real images.

    Each network is optional: when its weights are missing it is switched off with one
    logged notice, and the loss dict simply lacks its term.
    """

    def __init__(self, vgg19: str | None = "auto", vggface: str | None = None, weights: LossWeights = LossWeights()):
        super().__init__()
        self.nets = nn.ModuleDict()
        self.weights = {}
        for name, net, weight in (("vgg19", vgg19_net(vgg19) if vgg19 else None, weights.vgg19),
                                  ("vggface", vggface_net(vggface), weights.vggface)):
            if net is None:
                log.info("content loss: %s off (no weights%s)", name,
                         f"; put {VGG19_FILE} in {torch.hub.get_dir()}/checkpoints" if name == "vgg19" else
                         "; pass a VGGFace state dict to use it")
            elif weight > 0:
                self.nets[name] = net
                self.weights[name] = weight

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = {}
        for name, net in self.nets.items():
            with torch.no_grad():
                real_feats = net(real)
            fake_feats = net(fake)
            losses[name] = self.weights[name] * sum(F.l1_loss(f.float(), r.float())
                                                    for f, r in zip(fake_feats, real_feats))
        return losses


# ----------------------------------------------------------------------------------------
# The GAN update's loss terms, written once: meta-learning (train/step.py) and few-shot
# fine-tuning (train/finetune.py) both call these and sum the dict (first-order-model's way).
# ----------------------------------------------------------------------------------------

def generator_terms(D: nn.Module, fake: torch.Tensor, target: torch.Tensor, target_landmarks: torch.Tensor,
                    weights: LossWeights, video: torch.Tensor | None = None, content: nn.Module | None = None,
                    w_rows: torch.Tensor | None = None, e_hat: torch.Tensor | None = None,
                    identity=None, target_points=None, regions=None) -> dict[str, torch.Tensor]:
    """Weighted loss terms of the generator side, with D frozen by the caller.

    video: D's rows for the batch (meta-learning) or None (a personalised D′);
    w_rows, e_hat: for L_MCH (meta-learning only; give both or neither);
    identity, target_points: an ``fsth.identity.IdentityEncoder`` and the targets' landmarks
    (B, 68, 2), for the identity term; regions: (B, 1, S, S) weights of the regions term."""
    fake_score, fake_features = D(fake, target_landmarks, video)
    with torch.no_grad():
        _, real_features = D.features(target, target_landmarks)
    losses = {}
    if weights.pixel:
        losses["pixel"] = weights.pixel * F.l1_loss(fake.float(), target.float())
    if weights.regions and regions is not None:
        losses["regions"] = weights.regions * region_l1(fake, target, regions)
    if content is not None:
        losses.update(content(fake, target))
    losses["adversarial"] = weights.adversarial * adversarial_g_loss(fake_score.float())
    losses["feature_matching"] = weights.feature_matching * feature_matching_loss(fake_features, real_features)
    if weights.embedding_match and w_rows is not None:
        losses["embedding_match"] = weights.embedding_match * embedding_match_loss(w_rows.detach(), e_hat)
    if weights.identity and identity is not None:
        from .identity import identity_loss

        points = target_points.detach().cpu().numpy() if isinstance(target_points, torch.Tensor) else target_points
        losses["identity"] = weights.identity * identity_loss(identity, fake, target, points)
    return losses


def discriminator_terms(D: nn.Module, target: torch.Tensor, fake: torch.Tensor, target_landmarks: torch.Tensor,
                        video: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The discriminator's hinge loss on reals and (detached) fakes, scores in float32."""
    scores, _ = D(torch.cat([target, fake.detach()]), target_landmarks.repeat(2, 1, 1, 1),
                  None if video is None else video.repeat(2))
    real_score, fake_score = scores.float().chunk(2)
    return {"d_hinge": hinge_d_loss(real_score, fake_score)}
