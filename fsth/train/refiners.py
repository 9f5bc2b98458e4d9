"""What the learned refiners' training shares (fsth.train.eyes, fsth.train.mouth): colour
jitter, the training loop, the held-out check, and turning a meta-trained guided checkpoint into
one with a refiner more.

Each refiner learns, on patches (fsth.nn.patches), what turns the meta-trained model's render
into the target: L1 of the refined patch against the target's, plus a little of the change's
size, so what needs no change is left alone. Inputs (N, C, H, W): the rendered patch first (3).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm


@dataclass(frozen=True)
class RefinerTrainConfig:
    """A refiner's recipe, saved in the checkpoint (``train_config[part]``)."""

    identities: int = 480
    frames: int = 8  # per identity: the shot and the targets
    sizes: tuple[int, ...] = (64, 128, 256)  # identity i is drawn at sizes[i % len]
    steps: int = 4000
    batch_size: int = 32
    lr: float = 1e-3
    jitter: float = 0.25  # colour gain ± and bias ± (in [-1, 1] units: half of it)
    quiet: float = 0.01  # weight of the mean |change| in the loss: what needs no change is left alone
    seed: int = 0  # SynthHeads seed of the identities: each refiner its own

    def __post_init__(self):
        if self.identities < 1 or self.frames < 2 or self.steps < 1 or self.batch_size < 1 or not self.sizes:
            raise ValueError(f"a refiner needs identities >= 1, frames >= 2 (a shot and a target), "
                             f"steps >= 1, batch_size >= 1 and a size; got {self}")


def synth_clip(index: int, config, edit) -> tuple[np.ndarray, np.ndarray]:
    """SynthHeads identity ``index`` of ``config.seed`` talking for ``config.frames`` frames, its
    motion changed by ``edit(motion, rng)``, drawn at ``config.sizes[index % len]``: frames
    (T, S, S, 3) uint8 and landmarks (T, 68, 2)."""
    from ..data.synthetic import random_identity
    from ..data.synthetic.motion import random_motion
    from ..data.synthetic.render import Renderer

    rng = np.random.default_rng([config.seed, index])
    who = random_identity(rng)
    motion = random_motion(rng, config.frames)
    edit(motion, rng)
    renderer = Renderer(who, config.sizes[index % len(config.sizes)], rng)
    drawn = [renderer.render(motion.pose(t)) for t in range(config.frames)]
    return np.stack([d[0] for d in drawn]), np.stack([d[1] for d in drawn]).astype(np.float64)


@torch.no_grad()
def refiner_samples(model, part: str, clip, config, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, C, H, W) and target patches (N, 3, H, W), float16, for the refiner ``part``
    (the generator's attribute; ``refine_<part>`` its switch): for each of ``config.identities``,
    ``clip(index, config)`` -> frames (T, S, S, 3) uint8 and landmarks (T, 68, 2), frame 0 the
    shot; ``model`` renders the others from it (no fine-tuning, that refiner off)."""
    from ..io.tensors import to_tensor
    from ..nn.patches import sample_patches
    from .finetune import finetune

    refiner = getattr(model.generator, part)
    inputs, targets = [], []
    for index in tqdm(range(config.identities), desc=part, disable=not progress):
        images, points = clip(index, config)
        head = finetune(model, images[:1], points[:1], steps=0, progress=False)
        setattr(head.generator, f"refine_{part}", False)
        rendered = to_tensor(head.render(points[1:]))
        shot = to_tensor(images[:1]).expand(len(rendered), -1, -1, -1)
        x, frames = refiner.patches(rendered, shot, np.repeat(points[:1], len(rendered), 0), points[1:])
        inputs.append(x.half())
        targets.append(sample_patches(to_tensor(images[1:]), frames, refiner.SHAPE).half())
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


def train_refiner(refiner, inputs: torch.Tensor, targets: torch.Tensor, config,
                  progress: bool = True) -> list[float]:
    """Adam with a cosine decay; loss: L1 of the refined patch against the target's, plus
    ``config.quiet`` × the mean size of the change. Returns
    the mean loss of every 50 steps (and of the last few)."""
    rng = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(refiner.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    refiner.train()
    losses, running, count = [], 0.0, 0
    for step in tqdm(range(config.steps), desc="refiner", disable=not progress):
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


def add_refiner(checkpoint: str, out: str, kinds: dict[str, str], part: str, samples, config,
                progress: bool = True, prepare=None) -> dict:
    """Load ``checkpoint`` (a model whose generator is a key of ``kinds``), make it the generator
    ``kinds`` names for it, train its refiner ``part`` (the generator's attribute; from scratch,
    any weights of it the checkpoint has are dropped) on
    ``samples(model, config, progress)`` -> (inputs, targets), the last tenth held out, and save
    it to ``out`` (atomically, in the checkpoint's precision) with the recipe in
    ``train_config[part]``. ``prepare(model, config)``, if given, sets the model up before the
    samples are rendered (what it sets is saved with it). Returns the recipe and what was measured."""
    from ..io.checkpoint import load_checkpoint, save_checkpoint
    from ..nn import create
    from ..nn.config import ModelConfig

    state = load_checkpoint(checkpoint)
    kind = state.get("model_config", {}).get("generator") if isinstance(state.get("model_config"), dict) else None
    if kind not in kinds or not isinstance(state.get("model"), dict):
        raise ValueError(f"{checkpoint}: not a training checkpoint of a {' or '.join(kinds)} model "
                         f"(generator {kind!r})")
    generator = kinds[kind]
    model_config = {**state["model_config"], "generator": generator}
    model = create(ModelConfig.from_dict(model_config))
    weights = {k: v for k, v in state["model"].items() if not k.startswith(f"generator.{part}.")}  # trained anew
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not name.startswith(f"generator.{part}.") for name in missing):
        raise ValueError(f"{checkpoint}: its weights don't fit a {generator} model")
    model.eval()
    if prepare is not None:
        prepare(model, config)
    start = time.time()
    inputs, targets = samples(model, config, progress)
    made = time.time() - start
    train = len(inputs) - max(len(inputs) // 10, 1)  # the last tenth: checks the refiner beats the plain render
    refiner = getattr(model.generator, part)
    losses = train_refiner(refiner, inputs[:train], targets[:train], config, progress)
    plain, refined = patch_errors(refiner, inputs[train:], targets[train:])
    seconds = time.time() - start
    recipe = {**config.__dict__, "sizes": list(config.sizes), "samples": len(inputs), "seconds": seconds,
              "data_seconds": made, "loss_first": losses[0], "loss_last": losses[-1],
              "held_out_l1_plain": plain, "held_out_l1_refined": refined}
    stored = next(iter(state["model"].values())).dtype  # the shipped models are stored in float16: so is the refiner
    weights = {k: v.to(state["model"][k].dtype if k in state["model"] else stored) if v.is_floating_point() else v
               for k, v in model.state_dict().items()}
    save_checkpoint(out, {**{k: v for k, v in state.items() if k != "format"}, "model": weights,
                          "model_config": model_config,
                          "train_config": {**state.get("train_config", {}), part: recipe},
                          "seconds": float(state.get("seconds", 0.0)) + seconds})
    return recipe


def command(argv, description: str, config_type, add, checkpoint_help: str, out_help: str) -> None:
    """The command line of a refiner's training: ``CHECKPOINT OUT`` and the recipe's numbers
    (``config_type``'s fields) as options; runs ``add(checkpoint, out, config)``, prints its recipe."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint", help=checkpoint_help)
    parser.add_argument("out", help=out_help)
    defaults = config_type()
    for name in ("identities", "frames", "steps", "batch_size"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "jitter", "quiet", "cavity_shown"):
        if hasattr(defaults, name):
            parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = vars(parser.parse_args(argv))
    checkpoint, out = args.pop("checkpoint"), args.pop("out")
    recipe = add(checkpoint, out, config_type(**args))
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in recipe.items()})
