"""One meta-learning step (docs/method.md): an episode batch in, E+G and D updated, losses out.

    step = MetaStep(model, content=ContentLoss(), weights=LossWeights())
    losses = step(batch)   # dict of floats: every term, logged for free

The generator side is computed with D frozen (no weight gradients spent on D); the
discriminator side then sees the fake detached. L_MCH moves E (in the G step) and Wᵢ (in
the D step) towards each other, as the joint formulation does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..hardware import AMP_CHOICES, Precision, choose, log_choice
from ..hardware import autocast as autocast_context
from ..losses import ContentLoss, LossWeights, discriminator_terms, embedding_match_loss, generator_terms
from ..nn import TalkingHeads
from ..nn.conditioning import select


@dataclass(frozen=True)
class OptimConfig:
    lr_g: float = 5e-5  # embedder and generator
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1  # discriminator updates per generator update
    grad_clip: float = 0.0  # max gradient norm for E+G and D (0: off)
    amp: str = "auto"  # "auto" (what the hardware does fastest, fsth.hardware) | "none" | "bf16" | "fp16"
    channels_last: bool | str = "auto"  # true | false | "auto"
    checkpoint_embedder: bool = False  # recompute E's activations in backward: less memory

    def __post_init__(self):
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"optim.amp must be one of {', '.join(AMP_CHOICES)}; got {self.amp!r}")
        if self.channels_last not in (True, False, "auto"):
            raise ValueError(f"optim.channels_last must be true, false or auto; got {self.channels_last!r}")

    def precision(self, device: torch.device) -> Precision:
        """The precision and layout this config asks for on ``device`` (logged once)."""
        chosen = choose(device, self.amp, self.channels_last)
        log_choice(chosen)
        return chosen


class MetaStep:
    """Optimisers and the update rule of meta-learning (or feed-forward training when
    ``weights.embedding_match == 0``)."""

    def __init__(self, model: TalkingHeads, content: ContentLoss | None = None,
                 weights: LossWeights = LossWeights(), optim: OptimConfig = OptimConfig(),
                 distributed: bool = False, compile: bool = False):
        self.model, self.content, self.weights, self.optim = model, content, weights, optim
        model.embedder.trunk.checkpoint = optim.checkpoint_embedder
        E, G, D = model.embedder, model.generator, model.discriminator
        # The modules whose forward() the step calls: DDP-wrapped and/or compiled, same weights.
        self.E, self.G, self.D = wrap(E, distributed, compile), wrap(G, distributed, compile), \
            wrap(D, distributed, compile, ignore=["W.weight"])
        self.distributed = distributed
        self.opt_g = torch.optim.Adam(list(E.parameters()) + list(G.parameters()), optim.lr_g, optim.betas, fused=True)
        dense = [p for n, p in D.named_parameters() if not n.startswith("W.")]
        self.opt_d = torch.optim.Adam(dense, optim.lr_d, optim.betas, fused=True)
        self.opt_w = torch.optim.SparseAdam([D.W.weight], optim.lr_d, optim.betas)
        device = next(model.parameters()).device
        self.precision = optim.precision(device)
        self.identity = identity_encoder(device) if weights.identity else None
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision.amp == "fp16")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _prepare(self, batch: dict) -> dict:
        fmt = torch.channels_last if self.precision.channels_last else torch.contiguous_format
        out = {}
        for key, value in batch.items():
            value = value.to(self.device, non_blocking=True)
            if value.dim() == 4:
                value = value.contiguous(memory_format=fmt)
            out[key] = value
        return out

    def generator_losses(self, batch: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Losses of E+G for one episode batch; returns (losses, fake, ê)."""
        model, w = self.model, self.weights
        shots, shot_landmarks = batch["shots"], batch["shot_landmarks"]
        b, k = shots.shape[:2]
        e_hat = self.E(shots.flatten(0, 1), shot_landmarks.flatten(0, 1)).view(b, k, -1).mean(dim=1)
        fake = self.G(batch["target_landmarks"], e_hat, **select(model.generator.conditioning, batch))
        rows = model.discriminator.W(batch["video"]) if w.embedding_match else None
        losses = generator_terms(model.discriminator, fake, batch["target"], batch["target_landmarks"], w,
                                 video=batch["video"], content=self.content, w_rows=rows, e_hat=e_hat,
                                 identity=self.identity, target_points=batch.get("target_points"),
                                 regions=batch.get("regions"))
        return losses, fake, e_hat

    def discriminator_losses(self, batch: dict, fake: torch.Tensor, e_hat: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = discriminator_terms(self.D, batch["target"], fake, batch["target_landmarks"], batch["video"])
        if self.weights.embedding_match:
            losses["d_embedding_match"] = self.weights.embedding_match * embedding_match_loss(
                self.model.discriminator.W(batch["video"]), e_hat.detach())
        return losses

    def _update(self, losses, optimizers, params):
        apply_update(losses, optimizers, params, self.scaler, self.optim.grad_clip, self.distributed)

    def __call__(self, batch: dict) -> dict[str, float]:
        """One update of E+G and ``d_steps`` updates of D; returns every loss term."""
        model = self.model.train()
        batch = self._prepare(batch)
        D = model.discriminator
        D.requires_grad_(False)
        with autocast_context(self.device, self.precision.amp):
            g_losses, fake, e_hat = self.generator_losses(batch)
        eg_params = list(model.embedder.parameters()) + list(model.generator.parameters())
        self._update(g_losses, [self.opt_g], eg_params)
        D.requires_grad_(True)
        for _ in range(self.optim.d_steps):
            with autocast_context(self.device, self.precision.amp):
                d_losses = self.discriminator_losses(batch, fake, e_hat)
            self._update(d_losses, [self.opt_d, self.opt_w], list(D.parameters()))
        return {k: float(v.detach()) for k, v in {**g_losses, **d_losses}.items()}

    def state_dict(self) -> dict:
        return {"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "opt_w": self.opt_w.state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.opt_w.load_state_dict(state["opt_w"])
        self.scaler.load_state_dict(state["scaler"])
        # W may have grown since (a larger dataset): new videos start with empty moments
        rows = self.model.discriminator.W.weight.shape[0]
        for slot in self.opt_w.state.values():
            for name in ("exp_avg", "exp_avg_sq"):
                if name in slot and slot[name].shape[0] < rows:
                    extra = slot[name].new_zeros((rows - slot[name].shape[0],) + slot[name].shape[1:])
                    slot[name] = torch.cat([slot[name], extra])


def identity_encoder(device):
    """dlib's face-recognition network in PyTorch, frozen: the identity term's judge."""
    from ..identity import IdentityEncoder

    return IdentityEncoder(device)


def apply_update(losses: dict[str, torch.Tensor], optimizers, params, scaler: torch.amp.GradScaler,
                 grad_clip: float = 0.0, distributed: bool = False) -> None:
    """One optimiser step on the sum of ``losses``: backward (scaled for fp16), sparse gradients
    synced across ranks, optional clipping, step. Meta-learning and fine-tuning both use it."""
    total = sum(losses.values())
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    if distributed:
        sync_sparse_grads(params)
    if grad_clip:
        for opt in optimizers:
            scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None and not p.grad.is_sparse], grad_clip)
    for opt in optimizers:
        scaler.step(opt)
    scaler.update()


def wrap(module: torch.nn.Module, distributed: bool, compile: bool, ignore=()) -> torch.nn.Module:
    """DDP-wrap (sparse parameters left to :func:`sync_sparse_grads`) and/or compile."""
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if ignore:
            DDP._set_params_and_buffers_to_ignore_for_model(module, list(ignore))
        device = next(module.parameters()).device
        module = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(module) if compile else module


def sync_sparse_grads(params) -> None:
    """Average sparse gradients (D's W) across ranks: NCCL has no sparse all-reduce, so
    gather every rank's rows and values (padded to one length) and sum them."""
    import torch.distributed as dist

    world = dist.get_world_size()
    for p in params:
        if p.grad is None or not p.grad.is_sparse:
            continue
        grad = p.grad.coalesce()
        rows, values = grad.indices()[0], grad.values()
        count = torch.tensor([len(rows)], device=rows.device)
        counts = [torch.zeros_like(count) for _ in range(world)]
        dist.all_gather(counts, count)
        longest = int(max(c.item() for c in counts))
        pad = longest - len(rows)
        rows = torch.cat([rows, rows.new_zeros(pad)])
        values = torch.cat([values, values.new_zeros((pad,) + values.shape[1:])])
        all_rows = [torch.empty_like(rows) for _ in range(world)]
        all_values = [torch.empty_like(values) for _ in range(world)]
        dist.all_gather(all_rows, rows)
        dist.all_gather(all_values, values)
        rows = torch.cat([r[: int(c.item())] for r, c in zip(all_rows, counts)])
        values = torch.cat([v[: int(c.item())] for v, c in zip(all_values, counts)])
        p.grad = torch.sparse_coo_tensor(rows[None], values / world, p.shape).coalesce()
