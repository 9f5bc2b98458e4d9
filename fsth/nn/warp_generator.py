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

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import TalkingHeadGenerator, register_generator
from .blocks import sn_conv
from .config import ModelConfig
from .generator import Generator
from ..guardrails import (CAVITY_HOLD, CAVITY_PAINT_HOLD, CAVITY_SMOOTHING, hold_mouth, inner_face_mask, mouth_cavity,
                          skin_colour, steady_paint, tint)
from .temporal import moving_average

SYNTH_PRIOR = -2.0  # initial mask logit of the synthesis path (the shots' logits start at 0)


def with_synthesis_share(mask: torch.Tensor, share: torch.Tensor) -> torch.Tensor:
    """The mask (B, K + 1, 1, S, S) with the synthesis path's share (its last) set to ``share``
    (B, 1, S, S); the shots share the rest in the proportions the mask gave them."""
    shots = mask[:, :-1]
    shots = shots * ((1 - share) / shots.sum(1).clamp(min=1e-6))[:, None]
    return torch.cat([shots, share[:, None]], 1)


def sample(images: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
    """images (N, 3, S, S) sampled at grids (N, S, S, 2) in grid_sample's [-1, 1] coordinates."""
    return F.grid_sample(images, grids.to(images.dtype), mode="bilinear", padding_mode="border",
                         align_corners=False)


@register_generator("warp")
class WarpGenerator(TalkingHeadGenerator):
    """Needs the shots and the baseline grids from each shot to the target."""

    conditioning = ("shots", "grids")

    extra_inputs = 0  # channels of conditioning the synthesis path sees beside landmarks + mean warped shot

    def __init__(self, config: ModelConfig, max_shift: float = 0.15):
        super().__init__()
        self.config, self.max_shift = config, max_shift
        self.synth = Generator(config, in_channels=6 + self.extra_inputs)  # target landmarks + mean warped shot
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

    def synth_inputs(self, landmarks, mean_warped, **conditioning) -> torch.Tensor:
        """What the synthesis path sees: (B, 6 + extra_inputs, S, S)."""
        return torch.cat([landmarks, mean_warped], 1)

    def paint(self, features, synth, **conditioning):
        """The synthesis path's picture from its own (B, 3, S, S), and any parts to return with
        it; here the picture as it is."""
        return synth, {}

    def synth_logit_prior(self, **conditioning):
        """A bias on the synthesis path's mask logit (B, 1, S, S), or 0: where it must paint."""
        return 0.0

    def bound_mask(self, mask: torch.Tensor, **conditioning) -> torch.Tensor:
        """The mask (B, K + 1, 1, S, S) as the image uses it; here as learned."""
        return mask

    def forward(self, landmarks: torch.Tensor, e_hat: torch.Tensor | None = None, shots: torch.Tensor | None = None,
                grids: torch.Tensor | None = None, return_parts: bool = False, **conditioning):
        """landmarks (B, 3, S, S); e_hat (B, embed_dim) or None after personalize();
        shots (B, K, 3, S, S) in [-1, 1]; grids (B, K, S, S, 2): the baseline sampling positions.
        Returns the image (B, 3, S, S), or a dict with the mask, flows (``grid``: where each
        shot is sampled, (B·K, S, S, 2)) and both paths."""
        if shots is None or grids is None:
            raise ValueError("the warping generator needs the shots and their sampling grids "
                             "(fsth.nn.conditioning.build(generator.conditioning, ...))")
        b, k = shots.shape[:2]
        flat_shots, flat_grids = shots.flatten(0, 1), grids.flatten(0, 1)
        warped = sample(flat_shots, flat_grids)  # (B·K, 3, S, S)
        mean_warped = warped.unflatten(0, (b, k)).mean(1)
        features = self.synth.features(self.synth_inputs(landmarks, mean_warped, **conditioning), e_hat)
        painted = torch.tanh(self.synth.to_rgb(features))
        synth, extra_parts = self.paint(features, painted, **conditioning)
        head = self.flow_head(torch.cat([features.repeat_interleave(k, 0), warped], 1))  # (B·K, 3, S, S)
        delta = torch.tanh(head[:, :2].float()).permute(0, 2, 3, 1) * self.max_shift
        grid = flat_grids + delta
        refined = sample(flat_shots, grid).unflatten(0, (b, k))
        synth_logit = self.synth_logit(features).float() + self.synth_logit_prior(**conditioning)
        logits = torch.cat([head[:, 2:].unflatten(0, (b, k)).float(), synth_logit[:, None]], 1)
        mask = self.bound_mask(torch.softmax(logits, dim=1), **conditioning)  # (B, K + 1, 1, S, S)
        image = (mask[:, :k] * refined.float()).sum(1) + mask[:, k] * synth.float()
        if return_parts:
            return {"image": image, "mask": mask, "delta": delta.unflatten(0, (b, k)), "warped": refined,
                    "synth": synth, "grid": grid, **extra_parts}
        return image

    def full_resolution(self, landmarks, e_hat, size: int, full_shots=None, **conditioning) -> torch.Tensor:
        """Motion, mask and synthesis at the model's size; the texture sampled from ``full_shots``
        (B, K, 3, size, size) along the upsampled grid (grid_sample's coordinates don't depend on
        the size), the synthesis upsampled (bicubic) where the mask asks for it."""
        if full_shots is None:
            return super().full_resolution(landmarks, e_hat, size, **conditioning)
        return self._compose(self(landmarks, e_hat, return_parts=True, **conditioning), full_shots, size)

    @staticmethod
    def _compose(parts: dict, full_shots: torch.Tensor, size: int, synth: torch.Tensor | None = None,
                 eyes: torch.Tensor | None = None, synth_floor: torch.Tensor | None = None) -> torch.Tensor:
        """The output at ``size`` px: shots sampled along the upsampled grid (and ``eyes``, RGBA
        layers (B, K, 4, size, size) in [0, 1], laid over them), mixed by the upsampled mask with
        the synthesis (``synth`` at ``size``, else the parts' upsampled), whose share is at least
        ``synth_floor`` (B, 1, size, size) where given."""
        b, k = full_shots.shape[:2]
        up = dict(size=(size, size), align_corners=False)
        grid = F.interpolate(parts["grid"].permute(0, 3, 1, 2).float(), mode="bilinear", **up).permute(0, 2, 3, 1)
        warped = sample(full_shots.flatten(0, 1).float(), grid).unflatten(0, (b, k))
        if eyes is not None:
            eyes = eyes.to(warped.device)
            warped = warped + eyes[:, :, 3:] * (eyes[:, :, :3] * 2 - 1 - warped)
        mask = F.interpolate(parts["mask"].flatten(1, 2), mode="bilinear", **up).unsqueeze(2)  # (B, K + 1, 1, R, R)
        if synth_floor is not None:
            mask = with_synthesis_share(mask, torch.maximum(mask[:, k], synth_floor.to(mask.device).float()))
        if synth is None:
            synth = F.interpolate(parts["synth"].float(), mode="bicubic", **up).clamp(-1, 1)
        return (mask[:, :k] * warped).sum(1) + mask[:, k] * synth


@register_generator("layered")
class LayeredWarpGenerator(WarpGenerator):
    """The warping generator with the geometric priors of what a warp can't show: the synthesis
    path sees where the target's mouth interior and closing eyes are (``priors``, from the
    landmarks: fsth.landmarks.regions) and its mask logit is raised there by a learned gain, so a
    closed mouth opens and an eye closes from the first step; training refines both."""

    conditioning = ("shots", "grids", "priors")
    extra_inputs = 2
    PRIOR_GAIN = 6.0  # initial logit bias inside the regions: σ-share of synthesis ≈ 0.98 for one shot

    def __init__(self, config: ModelConfig, max_shift: float = 0.15):
        super().__init__(config, max_shift)
        self.prior_gain = nn.Parameter(torch.full((2,), self.PRIOR_GAIN))

    def synth_inputs(self, landmarks, mean_warped, priors=None, **_):
        return torch.cat([landmarks, mean_warped, priors.to(landmarks.dtype) * 2 - 1], 1)

    def synth_logit_prior(self, priors=None, **_):
        return (self.prior_gain.view(1, 2, 1, 1) * priors.float()).amax(1, keepdim=True)


# at full resolution, learned flow corrections are shortened by this many model pixels (a 64 px
# model's sub-pixel wobble, enlarged, misplaced fine texture) and dropped inside the target's inner
# face (brows, eyes, nose, lips: fsth.guardrails.inner_face_mask), kept around it (cheeks, jaw, hair,
# what a turn reveals): inside, the landmark warp already places every feature, and on real portraits
# the correction only blurred who it is — stop 41, fine-tuned 100 steps, single_face driving, identity
# distance Mona Lisa 0.323 -> 0.282, Grace Hopper 0.292 -> 0.256, astronaut 0.316 -> 0.306 (with no
# correction at all 0.281, 0.255, 0.306), flicker no higher. Stops 36-40 used a dead zone of 1 pixel
# everywhere instead. With the face left out, half a pixel was chosen on held-out SynthHeads pairs at
# 256 px of another seed (2_000_101): whole-frame SSIM 0.815 (dead zone 0: 0.812, 1: 0.814; the warp's 0.806;
# the face in, 0.5: 0.809), turn L1 0.85x the warp's (0: 0.79x, 1: 0.90x)
FLOW_DEADZONE = 0.5
FLOW_OUTSIDE_FACE = True
CAVITY_TRUST = 3.0  # initial logit of the gate that shows the painted cavity: σ(3) ≈ 0.95
# the least share of the painted cavity shown inside its alpha, whatever the learned gate says: the gate
# learned to show it only 0.22-0.34 of the way (SynthHeads and real portraits alike), the rest the
# synthesis path's 64 px paint, which dlib read as a barely open mouth on real portraits (single_face:
# Mona Lisa span 0.72 -> 1.07 with 1.0 and the mouth refiner retrained on such renders); 0 gives the
# learned gate back, as guided weights saved before stop 38 load
CAVITY_SHOWN = 1.0
# at full resolution each frame's learned flow correction is an exponential moving average over the
# video's frames, this much of the previous frame's kept: on real portraits driven by wolfgang the
# corrections trembled from frame to frame (flicker above the warp's: Grace Hopper 1.143 -> 1.099, the
# warp's 1.105); SynthHeads pairs are single frames, so what the flow gains on turns stays
FLOW_SMOOTHING = 0.7
# and before that average, a frame's correction moves the held one only by what it changes beyond this
# many model pixels (a dead band in time): the flow's small corrections trembled with the driver's
# landmarks. With the cavity shown in full, on real portraits (single_face / wolfgang driving) flicker
# Mona Lisa 1.053 -> 1.026 / 0.707 -> 0.700, Grace Hopper 1.546 -> 1.465 / 1.118 -> 1.089 (the warp's
# 0.997 / 0.711, 1.439 / 1.105); stills (SynthHeads pairs) are single frames, untouched
FLOW_HOLD = 1.0


@register_generator("guided")
class GuidedWarpGenerator(WarpGenerator):
    """The warping generator on guard-rails (fsth.guardrails), which training refines:

    - its baseline grids (``guided_grids``) close the eyelids and hold the background still;
    - inside an opening mouth its synthesis path starts from a painted cavity with teeth
      (``cavity``, tinted by the shot's skin), shown through a gate at least ``cavity_shown`` (1 by
      default: in full; below 1 the rest is learned, σ(3) at first),
      and its mask logit is raised there by a learned gain, so the paint shows from step 0;
    - its mask is bounded (``bound_mask``): synthesis only in the opening mouth, and there at least
      the cavity's alpha — learning chooses what is painted there, not whether;
    - at full resolution the cavity is painted again at that size and the floor applied there, so
      its edges stay sharp; flow corrections within the model's own resolution are dropped
      (``flow_deadzone``) and the rest held and smoothed over the video's frames (``flow_hold``,
      ``flow_smoothing``), and so is the cavity (``cavity_hold``, ``cavity_paint_hold``,
      ``cavity_smoothing``).
    """

    conditioning = ("shots", "guided_grids", "priors", "cavity", "target_points", "shot_points")
    extra_inputs = 5  # the priors (mouth, closing eyes) and the painted cavity's colour
    MOUTH_GAIN = 6.0

    def __init__(self, config: ModelConfig, max_shift: float = 0.15):
        super().__init__(config, max_shift)
        self.mouth_gain = nn.Parameter(torch.tensor(self.MOUTH_GAIN))
        self.cavity_gate = nn.Conv2d(config.width(0), 1, 3, padding=1)
        nn.init.zeros_(self.cavity_gate.weight)
        nn.init.constant_(self.cavity_gate.bias, CAVITY_TRUST)
        self.flow_deadzone, self.flow_smoothing, self.flow_hold = FLOW_DEADZONE, FLOW_SMOOTHING, FLOW_HOLD
        self.flow_outside_face = FLOW_OUTSIDE_FACE
        self.confine_synthesis, self.cavity_floor = True, True
        # how much of the painted cavity is shown whatever the gate learned: saved with the weights
        self.register_buffer("cavity_shown", torch.tensor(CAVITY_SHOWN))
        self.cavity_hold, self.cavity_paint_hold = CAVITY_HOLD, CAVITY_PAINT_HOLD
        self.cavity_smoothing = CAVITY_SMOOTHING
        GuidedWarpGenerator.reset_motion(self)  # a subclass's also resets refiners not built yet

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # guided weights saved before the floor existed were trained, and are used, with the gate as learned
        if prefix + "cavity_shown" not in state_dict and prefix + "cavity_gate.weight" in state_dict:
            state_dict[prefix + "cavity_shown"] = torch.tensor(0.0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, landmarks, e_hat=None, shots=None, guided_grids=None, cavity=None, return_parts=False,
                **conditioning):
        """As WarpGenerator's, with ``guided_grids`` for ``grids`` and ``cavity`` (B, 4, S, S):
        the painted mouth (RGB in [0, 1], alpha) from fsth.guardrails.mouth_cavity."""
        if cavity is None or shots is None:
            raise ValueError("the guided generator needs the shots and the painted cavity "
                             "(fsth.nn.conditioning.build(generator.conditioning, ...))")
        painted = torch.cat([tint(cavity[:, :3].float(), skin_colour(shots)) * 2 - 1, cavity[:, 3:].float()], 1)
        return super().forward(landmarks, e_hat, shots=shots, grids=guided_grids, painted=painted,
                               return_parts=return_parts, **conditioning)

    def synth_inputs(self, landmarks, mean_warped, priors=None, painted=None, **_):
        colour = painted[:, :3] * painted[:, 3:]
        return torch.cat([landmarks, mean_warped, priors.to(landmarks.dtype) * 2 - 1, colour.to(landmarks.dtype)], 1)

    def paint(self, features, synth, painted=None, **_):
        least = self.cavity_shown.float()
        gate = least + (1 - least) * torch.sigmoid(self.cavity_gate(features).float())
        shown = painted[:, 3:] * gate
        return synth.float() + shown * (painted[:, :3] - synth.float()), {"learned": synth, "cavity_gate": gate}

    def synth_logit_prior(self, priors=None, **_):
        return self.mouth_gain * priors[:, :1].float()

    def bound_mask(self, mask, priors=None, painted=None, **_):
        """The synthesis path's share held between two guard-rails (each switched by its flag):
        ``confine_synthesis``: at most the opening mouth's prior (``priors``' first channel) — elsewhere
        the shots show the person, and synthesis there only blurred who it is; ``cavity_floor``: at
        least the painted cavity's alpha (``painted``' last channel) — where the lips part wider than
        the shot's, the shot's stretched lips are the one answer known to be wrong. The shots share
        the rest in the proportions the mask gave them. (B, K + 1, 1, S, S) in and out."""
        synth = mask[:, -1]
        bounded = synth
        if self.confine_synthesis:
            bounded = torch.minimum(bounded, priors[:, :1].float().clamp(0, 1))
        if self.cavity_floor:
            bounded = torch.maximum(bounded, painted[:, 3:].float())
        return mask if bounded is synth else with_synthesis_share(mask, bounded)

    def full_resolution(self, landmarks, e_hat, size: int, full_shots=None, held=None,
                        **conditioning) -> torch.Tensor:
        """As WarpGenerator's; the cavity painted at ``size`` from the points (``held``: the target
        and shot points from :meth:`held_points`, if the caller has them), tinted by the
        full-resolution shot, shown through the upsampled gate over the upsampled learned paint;
        with ``cavity_floor``, the synthesis share at least the cavity's alpha at ``size`` too (the
        mask's floor, upsampled from the model's size, blurred the opening's edge: on held-out
        SynthHeads mouths at 256 px the error inside fell 0.101 -> 0.097 with it, and on real
        portraits dlib reads the mouths as more open)."""
        if full_shots is None:
            return super().full_resolution(landmarks, e_hat, size, **conditioning)
        parts = self(landmarks, e_hat, return_parts=True, **conditioning)
        targets, shots = self.held_points(conditioning, size) if held is None else held
        if size > self.config.image_size:
            parts = self._flow_past_deadzone(self._flow_over_time(parts))
            if self.flow_outside_face:
                parts = self._flow_outside_face(parts, targets, size)
        scale = size / self.config.image_size
        cavity = torch.stack([torch.from_numpy(mouth_cavity(s, t, size)[0]) for s, t in zip(shots, targets)])
        cavity, self._paint_before = steady_paint(cavity.to(full_shots.device), self._paint_before,
                                                  self.cavity_paint_hold, self.cavity_smoothing)
        colour = tint(cavity[:, :3], skin_colour(full_shots.float())) * 2 - 1
        up = dict(size=(size, size), align_corners=False)
        learned = F.interpolate(parts["learned"].float(), mode="bicubic", **up).clamp(-1, 1)
        gate = F.interpolate(parts["cavity_gate"], mode="bilinear", **up)
        shown = cavity[:, 3:] * gate
        eyes = closing_eyes_layers(full_shots, shots, targets, margin=scale)  # the grid is `scale` px coarse
        return self._compose(parts, full_shots, size, synth=learned + shown * (colour - learned), eyes=eyes,
                             synth_floor=cavity[:, 3:] if self.cavity_floor else None)

    def reset_motion(self) -> None:
        """Start a new video: the next frame's flow and cavity are not held to the last one's."""
        self._flow_before = None  # the last frame's smoothed correction (K, S, S, 2)
        self._mouth_before, self._mouth_size = None, None  # the last frame's held target points (68, 2), its size
        self._paint_before = None  # the last frame's held cavity (4, size, size), premultiplied

    TEMPORAL = ("flow_smoothing", "flow_hold", "cavity_hold", "cavity_paint_hold", "cavity_smoothing")

    @contextlib.contextmanager
    def stills(self):
        """Independent pictures (e.g. evenly spread frames of a clip): neither the flow nor the
        cavity is held or smoothed over them."""
        keep = {name: getattr(self, name) for name in self.TEMPORAL}
        try:
            for name in keep:
                setattr(self, name, 0.0)
            yield
        finally:
            for name, value in keep.items():
                setattr(self, name, value)

    def held_points(self, conditioning: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The target and shot points (B, 68, 2) in pixels of ``size``, the targets' mouth held
        in time (``cavity_hold``, fsth.guardrails.hold_mouth) for the cavity and the refiners:
        the batch's frames taken as consecutive frames of one video, continued until
        :meth:`reset_motion`."""
        targets, shots = (_pixels_at(conditioning[name], self.config.image_size, size)
                          for name in ("target_points", "shot_points"))
        before = self._mouth_before
        if before is not None and (before.shape != targets.shape[1:] or self._mouth_size != size):
            before = None
        targets, self._mouth_before = hold_mouth(targets, before, self.cavity_hold)
        self._mouth_size = size
        return targets, shots

    def _flow_over_time(self, parts: dict) -> dict:
        """The parts with each frame's learned flow correction held where it changed by less than
        ``flow_hold`` model pixels since the last frame (and moved by the excess elsewhere), then
        replaced by its exponential moving average (``flow_smoothing`` of the previous frame's
        kept); both 0: off. The batch's frames are taken as consecutive frames of one video,
        continued from the last call's until :meth:`reset_motion` (``Person.render`` resets
        unless told the video continues)."""
        keep, delta = self.flow_smoothing, parts["delta"]  # (B, K, S, S, 2)
        hold = self.flow_hold * 2 / self.config.image_size  # grid units: a model pixel is 2 / S
        if keep <= 0 and hold <= 0:
            return parts

        smoothed, self._flow_before = moving_average(delta, self._flow_before, keep, band=hold,
                                                     size=lambda change: change.norm(dim=-1, keepdim=True))
        return {**parts, "grid": parts["grid"] + (smoothed - delta).flatten(0, 1), "delta": smoothed}

    def _flow_past_deadzone(self, parts: dict) -> dict:
        """The parts with each learned flow correction shortened by ``flow_deadzone`` model pixels
        (a soft threshold): corrections within the model's own resolution are noise that, enlarged,
        misplaces fine texture by pixels; larger ones (what a turn reveals) are kept."""
        delta = parts["delta"].flatten(0, 1)  # (B·K, S, S, 2), grid units: a model pixel is 2 / S
        length = delta.norm(dim=-1, keepdim=True)
        dead = self.flow_deadzone * 2 / self.config.image_size
        kept = delta * (length - dead).clamp(min=0) / length.clamp(min=1e-9)
        return {**parts, "grid": parts["grid"] - delta + kept, "delta": kept.unflatten(0, parts["delta"].shape[:2])}

    def _flow_outside_face(self, parts: dict, targets: np.ndarray, size: int) -> dict:
        """The parts with each learned flow correction faded out inside the target's inner face
        (fsth.guardrails.inner_face_mask of ``targets`` (B, 68, 2), pixels of ``size``): there the
        landmark warp already places every feature, and the correction only blurred who it is;
        around it (cheeks, jaw, hair) it is kept, for what a turn reveals."""
        s = self.config.image_size
        inner = np.stack([inner_face_mask(_pixels_at_model(t, size, s), s) for t in targets])
        inner = torch.from_numpy(inner).to(parts["grid"].device, parts["grid"].dtype)
        dropped = parts["delta"] * inner[:, None, :, :, None]  # (B, K, S, S, 2)
        return {**parts, "grid": parts["grid"] - dropped.flatten(0, 1), "delta": parts["delta"] - dropped}


def _pixels_at(points: torch.Tensor, model_size: int, size: int) -> np.ndarray:
    """Landmarks in pixels of the model's size -> numpy, in pixels of ``size`` (pixel centres kept)."""
    return (points.float().cpu().numpy() + 0.5) * (size / model_size) - 0.5


def _pixels_at_model(points: np.ndarray, size: int, model_size: int) -> np.ndarray:
    """The inverse of :func:`_pixels_at`: points (68, 2) in pixels of ``size`` -> of the model's size."""
    return (np.asarray(points, np.float64) + 0.5) * (model_size / size) - 0.5


def closing_eyes_layers(full_shots: torch.Tensor, shot_points: np.ndarray, target_points: np.ndarray,
                        margin: float = 0.0) -> torch.Tensor:
    """(B, K, 4, S, S): the guard-rails' shut lids (fsth.eyelids.closing_eyes, ``margin`` as
    there) of each shot (B, K, 3, S, S) in [-1, 1] for each target (B, 68, 2), shot points
    (B, K, 68, 2), in pixels at S. A batch of frames of one portrait repeats its shots: their
    lids are made once."""
    from ..eyelids import closing_eyes, lash_colour, shut_eyes

    images = ((full_shots.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).byte()
    images = images.permute(0, 1, 3, 4, 2).numpy()  # (B, K, S, S, 3)
    shot_points = np.asarray(shot_points, np.float64).reshape(*images.shape[:2], 68, 2)
    lids: dict = {}
    layers = []
    for b in range(images.shape[0]):
        row = []
        for k in range(images.shape[1]):
            key = (images[b, k].tobytes(), shot_points[b, k].tobytes())
            if key not in lids:
                lids[key] = (shut_eyes(images[b, k], shot_points[b, k]), lash_colour(images[b, k], shot_points[b, k]))
            row.append(closing_eyes(images[b, k], *lids[key], shot_points[b, k], target_points[b][None],
                                    margin)[0])
        layers.append(np.stack(row))
    return torch.from_numpy(np.stack(layers))


@register_generator("guided_eyes")
class GuidedEyesGenerator(GuidedWarpGenerator):
    """The guided generator with a learned refiner of closing eyes (fsth.nn.eye_refiner) over its
    output, at any size: the guard-rails close the lids, the refiner makes them look like lids.
    Meta-training leaves the refiner as it is (untrained it changes nothing); it is trained
    afterwards on SynthHeads blinks (fsth.train.eyes). ``refine_eyes = False`` turns it off."""

    REFINERS = (("eyes", "refine_eyes"),)  # each: the refiner's attribute and the switch that turns it on

    def __init__(self, config: ModelConfig, max_shift: float = 0.15):
        super().__init__(config, max_shift)
        from .eye_refiner import EyeRefiner

        self.eyes = EyeRefiner()
        self.refine_eyes = True

    def _refiners(self) -> list:
        return [getattr(self, part) for part, _ in self.REFINERS]

    def reset_motion(self) -> None:
        super().reset_motion()
        for refiner in self._refiners():
            refiner.reset_motion()

    @contextlib.contextmanager
    def stills(self):
        """As GuidedWarpGenerator's; the refiners' changes are not averaged over frames either."""
        refiners = self._refiners()
        keep = [refiner.change_smoothing for refiner in refiners]
        try:
            for refiner in refiners:
                refiner.change_smoothing = 0.0
            with super().stills():
                yield
        finally:
            for refiner, value in zip(refiners, keep):
                refiner.change_smoothing = value

    def full_resolution(self, landmarks, e_hat, size: int, full_shots=None, **conditioning) -> torch.Tensor:
        """As GuidedWarpGenerator's, then refined in each refiner's patches (those switched on), the
        target's mouth held in time as the cavity's."""
        targets, shots = self.held_points(conditioning, size)
        image = super().full_resolution(landmarks, e_hat, size, full_shots=full_shots, held=(targets, shots),
                                        **conditioning)
        refiners = [getattr(self, part) for part, switch in self.REFINERS if getattr(self, switch)]
        if not refiners:
            return image
        shot = self._shots_at(full_shots, conditioning, size)[:, 0].float()
        for refiner in refiners:
            image = refiner.refine(image, shot, shots[:, 0], targets)
        return image

    @staticmethod
    def _shots_at(full_shots, conditioning: dict, size: int) -> torch.Tensor:
        """The shots (B, K, 3, size, size): ``full_shots``, else the model's own, enlarged."""
        if full_shots is not None:
            return full_shots
        shots = conditioning["shots"]
        if shots.shape[-1] == size:
            return shots
        return F.interpolate(shots.flatten(0, 1).float(), size=(size, size), mode="bicubic",
                             align_corners=False).clamp(-1, 1).unflatten(0, shots.shape[:2])


@register_generator("guided_refined")
class GuidedRefinedGenerator(GuidedEyesGenerator):
    """The guided generator with both learned refiners over its output, at any size: the eyes'
    (fsth.nn.eye_refiner) and the opening mouth's (fsth.nn.mouth_refiner), which sharpens the
    teeth and lips the model paints at its own size. Both are trained after meta-training
    (fsth.train.eyes, fsth.train.mouth); ``refine_mouth = False`` turns the mouth's off."""

    REFINERS = (("eyes", "refine_eyes"), ("mouth", "refine_mouth"))

    def __init__(self, config: ModelConfig, max_shift: float = 0.15):
        super().__init__(config, max_shift)
        from .mouth_refiner import MouthRefiner

        self.mouth = MouthRefiner()
        self.refine_mouth = True
