"""Stage two of the guided model: train its eye refiner (fsth.nn.eye_refiner) on SynthHeads blinks.

    python -m fsth.train.eyes fsth/pretrained/talking_heads_tiny_guided.pt OUT.pt [--identities 480 --steps 6000]

Meta-training never asks an eye to close further than a clip's own shots show, so the refiner is
trained apart: each SynthHeads identity (seeds no other set uses) is drawn with its eyes open —
the one shot — and at random stages of a blink, at 64, 128 and 256 px; the meta-trained model
renders every target from the shot (refiner off, no fine-tuning) and the refiner learns, in a
patch around each eye, what turns that render into the target. Colours are jittered (the same
way for a sample's render, shot and target), so it learns shapes and shading, not SynthHeads'
palette. OUT is the input checkpoint with generator "guided_eyes" and the refiner's weights.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

EYE_SEED = 3_000_017  # SynthHeads seed of the refiner's identities (held-out pairs use 2_000_003)


@dataclass(frozen=True)
class EyeTrainConfig:
    """The refiner's recipe, saved in the checkpoint (``train_config["eyes"]``)."""

    identities: int = 480
    frames: int = 12  # per identity: the shot and 11 targets
    sizes: tuple[int, ...] = (64, 128, 256)  # identity i is drawn at sizes[i % len]
    steps: int = 6000
    batch_size: int = 32
    lr: float = 1e-3
    jitter: float = 0.25  # colour gain ± and bias ± (in [-1, 1] units: half of it)
    quiet: float = 0.01  # weight of the mean |change| in the loss: what needs no change is left alone
    seed: int = EYE_SEED

    def __post_init__(self):
        if self.identities < 1 or self.frames < 2 or self.steps < 1 or self.batch_size < 1 or not self.sizes:
            raise ValueError(f"the eye refiner needs identities >= 1, frames >= 2 (a shot and a target), "
                             f"steps >= 1, batch_size >= 1 and a size; got {self}")


def blink_clip(index: int, config: EyeTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """One identity: frames (T, S, S, 3) uint8 and landmarks (T, 68, 2); frame 0 has its eyes
    open, the others blink between open and shut (a third of them fully shut)."""
    from ..data.synthetic import random_identity
    from ..data.synthetic.motion import random_motion
    from ..data.synthetic.render import Renderer

    rng = np.random.default_rng([config.seed, index])
    who = random_identity(rng)
    motion = random_motion(rng, config.frames)
    motion.blink = np.clip(rng.uniform(-0.2, 1.5, config.frames), 0, 1)
    motion.blink[0] = 0.0
    renderer = Renderer(who, config.sizes[index % len(config.sizes)], rng)
    drawn = [renderer.render(motion.pose(t)) for t in range(config.frames)]
    return np.stack([d[0] for d in drawn]), np.stack([d[1] for d in drawn]).astype(np.float64)


@torch.no_grad()
def eye_samples(model, config: EyeTrainConfig, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, 9, H, W) and target patches (N, 3, H, W), float16, two per target frame."""
    from ..io.tensors import to_tensor
    from ..nn.eye_refiner import sample_patches
    from .finetune import finetune

    refiner = model.generator.eyes
    inputs, targets = [], []
    for index in tqdm(range(config.identities), desc="blinks", disable=not progress):
        images, points = blink_clip(index, config)
        head = finetune(model, images[:1], points[:1], steps=0, progress=False)
        head.generator.refine_eyes = False
        rendered = to_tensor(head.render(points[1:]))
        shot = to_tensor(images[:1]).expand(len(rendered), -1, -1, -1)
        x, frames = refiner.patches(rendered, shot, np.repeat(points[:1], len(rendered), 0), points[1:])
        inputs.append(x.half())
        targets.append(sample_patches(to_tensor(images[1:]), frames, images.shape[1]).half())
    return torch.cat(inputs), torch.cat(targets)


def jitter(x: torch.Tensor, y: torch.Tensor, amount: float, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random colour gain and bias on a sample's three images (render, shot, target)."""
    n = len(x)
    gain = 1 + (torch.rand(n, 3, 1, 1, generator=rng) * 2 - 1) * amount
    bias = (torch.rand(n, 3, 1, 1, generator=rng) * 2 - 1) * amount
    recolour = lambda im: ((im + 1) * gain - 1 + bias).clamp(-1, 1)  # noqa: E731
    return torch.cat([recolour(x[:, :3]), recolour(x[:, 3:6]), x[:, 6:]], 1), recolour(y)


@torch.no_grad()
def patch_errors(refiner, inputs: torch.Tensor, targets: torch.Tensor, batch: int = 256) -> tuple[float, float]:
    """Mean L1 of the patches against the targets': as rendered (the refiner off) and refined."""
    plain = refined = 0.0
    for start in range(0, len(inputs), batch):
        x, y = inputs[start:start + batch].float(), targets[start:start + batch].float()
        plain += float((x[:, :3] - y).abs().mean((1, 2, 3)).sum())
        refined += float(((x[:, :3] + refiner(x)).clamp(-1, 1) - y).abs().mean((1, 2, 3)).sum())
    return plain / len(inputs), refined / len(inputs)


def train_refiner(refiner, inputs: torch.Tensor, targets: torch.Tensor, config: EyeTrainConfig,
                  progress: bool = True) -> list[float]:
    """Adam with a cosine decay; loss: L1 of the refined patch against the target's, plus
    ``config.quiet`` × the mean size of the change. Returns
    the mean loss of every 50 steps (and of the last few)."""
    rng = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(refiner.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    refiner.train()
    losses, running, count = [], 0.0, 0
    for step in tqdm(range(config.steps), desc="eye refiner", disable=not progress):
        pick = torch.randint(len(inputs), (config.batch_size,), generator=rng)
        x, y = jitter(inputs[pick].float(), targets[pick].float(), config.jitter, rng)
        change = refiner(x)
        loss = F.l1_loss((x[:, :3] + change).clamp(-1, 1), y) + config.quiet * change.abs().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        running, count = running + loss.item(), count + 1
        if count == 50 or step + 1 == config.steps:
            losses.append(running / count)
            running, count = 0.0, 0
    refiner.eval()
    return losses


def add_eyes(checkpoint: str, out: str, config: EyeTrainConfig = EyeTrainConfig(), progress: bool = True) -> dict:
    """Load ``checkpoint`` (a guided model), give it an eye refiner trained as above, save it to
    ``out`` (atomically) as a "guided_eyes" model. Returns what was measured."""
    from ..io.checkpoint import load_checkpoint, save_checkpoint
    from ..nn import create
    from ..nn.config import ModelConfig

    state = load_checkpoint(checkpoint)
    kind = state.get("model_config", {}).get("generator") if isinstance(state.get("model_config"), dict) else None
    if kind not in ("guided", "guided_eyes") or not isinstance(state.get("model"), dict):
        raise ValueError(f"{checkpoint}: not a guided model's training checkpoint (generator {kind!r})")
    model_config = {**state["model_config"], "generator": "guided_eyes"}
    model = create(ModelConfig.from_dict(model_config))
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if unexpected or any(not name.startswith("generator.eyes.") for name in missing):
        raise ValueError(f"{checkpoint}: not a guided model's training checkpoint (weights that don't fit)")
    model.eval()
    start = time.time()
    inputs, targets = eye_samples(model, config, progress)
    made = time.time() - start
    train = len(inputs) - max(len(inputs) // 10, 1)  # the last tenth: checks the refiner beats the plain render
    losses = train_refiner(model.generator.eyes, inputs[:train], targets[:train], config, progress)
    plain, refined = patch_errors(model.generator.eyes, inputs[train:], targets[train:])
    seconds = time.time() - start
    recipe = {**config.__dict__, "sizes": list(config.sizes), "samples": len(inputs), "seconds": seconds,
              "data_seconds": made, "loss_first": losses[0], "loss_last": losses[-1],
              "held_out_l1_plain": plain, "held_out_l1_refined": refined}
    stored = next(iter(state["model"].values())).dtype  # the shipped models are stored in float16: so are the eyes
    weights = {k: v.to(state["model"][k].dtype if k in state["model"] else stored) if v.is_floating_point() else v
               for k, v in model.state_dict().items()}
    save_checkpoint(out, {**{k: v for k, v in state.items() if k != "format"}, "model": weights,
                          "model_config": model_config,
                          "train_config": {**state.get("train_config", {}), "eyes": recipe},
                          "seconds": float(state.get("seconds", 0.0)) + seconds})
    return recipe


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a meta-trained guided model (generator 'guided')")
    parser.add_argument("out", help="where to write the model with its eye refiner")
    defaults = EyeTrainConfig()
    for name in ("identities", "frames", "steps", "batch_size"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--jitter", type=float, default=defaults.jitter)
    parser.add_argument("--quiet", type=float, default=defaults.quiet)
    args = parser.parse_args(argv)
    config = EyeTrainConfig(identities=args.identities, frames=args.frames, steps=args.steps,
                            batch_size=args.batch_size, lr=args.lr, jitter=args.jitter, quiet=args.quiet)
    recipe = add_eyes(args.checkpoint, args.out, config)
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in recipe.items()})


if __name__ == "__main__":
    main()
