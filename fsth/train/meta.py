"""Meta-learning (and feed-forward) training: ``fsth train`` — on a CPU or on several GPUs.

    python -m fsth train --data data/synth --out runs/tiny --preset tiny --steps 2000
    torchrun --nproc_per_node 4 -m fsth train --config paper.yaml

Resumes from the newest checkpoint in ``out``: model, optimisers, scaler, EMA, step,
data position and RNG states, so an interrupted run continues as if never stopped.
A killed run's leftovers don't get in the way: a damaged newest checkpoint is set aside
(the one before it is used), temp files of killed writes are removed, a metrics row cut off
mid-line is dropped, and its lock is taken over. Corrupt clips are skipped and counted, never
fatal. One run at a time writes into a run folder: a second is refused (``fsth.train.lock``).
"""
from __future__ import annotations

import csv
import io
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..errors import UsageError
from ..io.clips import SkippedClips
from ..io.images import save_image
from ..hardware import configure_threads
from ..io import atomic_write_text, sweep_stale_temps
from ..losses import ContentLoss
from ..nn import ModelConfig, TalkingHeads, create, get_config
from ..nn.base import create_generator
from ..nn.conditioning import select
from ..person import PERSON_FORMAT
from ..io.checkpoint import (CheckpointError, load_checkpoint, load_latest, prune_checkpoints, save_checkpoint,
                             step_path)
from .config import TrainConfig
from .episodes import EpisodeDataset, EpisodeSampler, to_uint8
from .lock import RunLock
from .step import MetaStep

log = logging.getLogger(__name__)
STALE_TEMP_SECONDS = 60  # temp files untouched this long are leftovers of killed writes


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def split_identities(dataset_root: str, holdout: int, seed: int,
                     skipped: SkippedClips | None = None) -> tuple[set[str] | None, list[str]]:
    """Training identities and ``holdout`` identities kept out (chosen by ``seed``)."""
    if holdout <= 0:
        return None, []
    everyone = EpisodeDataset(dataset_root, k=1, skipped=skipped).identities
    if holdout >= len(everyone):
        raise ValueError(f"holdout {holdout} leaves no identity to train on ({len(everyone)} in {dataset_root})")
    held = sorted(np.random.default_rng(seed).choice(everyone, size=holdout, replace=False).tolist())
    return set(everyone) - set(held), held


def ema_with_warmup(decay: float):
    """EMA update whose decay ramps up, min(decay, (1 + n) / (10 + n)) after n updates, so
    the average forgets the random initial weights within the first few hundred steps."""

    def update(averaged, current, num_averaged):
        d = min(decay, (1 + float(num_averaged)) / (10 + float(num_averaged)))
        return averaged * d + current * (1 - d)

    return update


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


RESUME_KEYS = ("step", "model", "model_config", "train_config", "optim", "rng")  # what Run.checkpoint writes


def check_resumable(path, state: dict) -> None:
    """:class:`CheckpointError` unless ``state`` is a training checkpoint a run can resume from
    (a person file or an exported model dropped into the run folder is not: it lacks the optimisers)."""
    missing = [k for k in RESUME_KEYS if k not in state]
    if not missing:
        return
    what = ("a person file written by fsth finetune" if state.get("kind") == PERSON_FORMAT
            else "an exported model without optimiser state" if "model" in state else f"it lacks {', '.join(missing)}")
    raise CheckpointError(f"{path}: not a training checkpoint ({what}); move it out of the run folder "
                          "or choose another --out")


def check_data_size(dataset: EpisodeDataset, preset: str, image_size: int, data) -> None:
    """UsageError before any work if clips are smaller than the model's images: upsampled 64 px crops
    would train a 256 px model on blur: preprocess the data at the preset's size or pick a smaller preset."""
    small = [(p, m) for p, m in zip(dataset.paths, dataset.metas) if min(m["height"], m["width"]) < image_size]
    if small:
        path, meta = small[0]
        raise UsageError(f"{data}: the data's size doesn't match the preset's image size: {len(small)} of "
                         f"{len(dataset.paths)} clip(s) hold {meta['width']}x{meta['height']} frames (e.g. {path}), "
                         f"smaller than the {image_size} px that preset {preset!r} trains at; preprocess the videos "
                         f"with --size {image_size} or choose a smaller preset")


def build_model(config: TrainConfig, num_videos: int, checkpoint: dict | None, path=None) -> TalkingHeads:
    """The model for ``config``; from a checkpoint, the same preset is required and W grows
    to ``num_videos`` if the dataset is larger."""
    wanted = get_config(config.preset, **config.model)
    if checkpoint is None:
        return create(wanted, num_videos=num_videos)
    saved = ModelConfig.from_dict(checkpoint["model_config"]).to_dict()  # fields added since get their defaults
    if {**saved, "num_videos": 0} != {**wanted.to_dict(), "num_videos": 0}:
        raise CheckpointError(f"{path}: trained with model {checkpoint['train_config']['preset']!r} "
                              f"{saved}, but this run asks for {config.preset!r} {wanted.to_dict()}")
    model = create(saved)
    model.load_state_dict(checkpoint["model"])
    if num_videos > model.config.num_videos:
        log.info("growing W from %d to %d videos", model.config.num_videos, num_videos)
        model.grow(num_videos)
    return model


@torch.no_grad()
def warm_start(model: TalkingHeads, path: str) -> str:
    """Copy the weights of the model file ``path`` into ``model`` where names match: same shapes
    whole; convolutions that gained input channels (new conditioning) get the old ones and zeros
    for the new; the rest (new layers, D's per-video rows) keep their fresh values."""
    state = load_checkpoint(path)
    source = state.get("model")
    if not isinstance(source, dict):
        raise CheckpointError(f"{path}: init_from needs a model file (a training checkpoint or an exported "
                              f"model){', not a person file' if state.get('kind') == PERSON_FORMAT else ''}")
    copied, widened, fresh = 0, 0, 0
    for name, tensor in model.state_dict().items():
        old = source.get(name)
        if old is None or old.dim() != tensor.dim():
            fresh += 1
        elif old.shape == tensor.shape:
            tensor.copy_(old)
            copied += 1
        elif old.dim() == 4 and old.shape[0] == tensor.shape[0] and old.shape[1] < tensor.shape[1]:
            tensor.zero_()[:, :old.shape[1]].copy_(old)
            widened += 1
        else:
            fresh += 1
    return f"{copied} tensors copied, {widened} widened, {fresh} fresh"


def sample_grid(batch: dict, fake: torch.Tensor, rows: int = 4) -> np.ndarray:
    """landmarks | generated | target, one row per episode: uint8 (rows*S, 3*S, 3)."""
    tiles = [batch["target_landmarks"][:rows], fake[:rows], batch["target"][:rows]]
    images = to_uint8(torch.cat([t.float().cpu() for t in tiles], dim=3))
    return np.concatenate(list(images), axis=0)


def _start_process_group(config: TrainConfig) -> tuple[torch.device, int, int, bool]:
    """(device, rank, world size, distributed): under torchrun, join the process group."""
    if not ("RANK" in os.environ and "WORLD_SIZE" in os.environ):
        return pick_device(config.device), 0, 1, False
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = pick_device(config.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), dist.get_world_size(), True


class RunFiles:
    """What rank 0 keeps in the run folder while training, beside the checkpoints: metrics.csv
    (rewritten atomically whenever a checkpoint is, so it always ends at a step a resume starts
    from), TensorBoard scalars and images, sample grids, and the loss curve at the end."""

    def __init__(self, out: Path, step: int, held: list[str]):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        if held:
            atomic_write_text(out / "holdout.txt", "\n".join(held) + "\n")
        self.lines = _kept_metrics(out / "metrics.csv", step)
        self.writer = _tensorboard(out)

    def log(self, step: int, losses: dict[str, float], seconds: float, step_seconds: float) -> None:
        row = {"step": step, "seconds": round(seconds, 2), "step_seconds": round(step_seconds, 4), **losses}
        if not self.lines:
            self.lines.append(",".join(row) + "\n")
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row.values())
        self.lines.append(buffer.getvalue().replace("\r\n", "\n"))
        if self.writer:
            for k, v in losses.items():
                self.writer.add_scalar(f"loss/{k}", v, step)

    def samples(self, model, batch, device, step: int) -> None:
        _write_samples(model, batch, device, self.out / "samples" / f"step-{step:08d}.png", self.writer, step)

    def flush(self) -> None:
        if self.lines:
            atomic_write_text(self.out / "metrics.csv", "".join(self.lines))

    def close(self) -> None:
        self.flush()
        _plot_run(self.out)
        if self.writer:
            self.writer.close()


def _stop_together(out_of_time: bool, distributed: bool, device) -> bool:
    """Every rank must stop at the same step: the time budget is agreed on across ranks."""
    if not distributed:
        return out_of_time
    flag = torch.tensor([float(out_of_time)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


@dataclass
class Run:
    """What one training run holds between its steps (built by :func:`start_run`)."""
    config: TrainConfig
    device: torch.device
    rank: int
    world: int
    distributed: bool
    dataset: EpisodeDataset
    model: TalkingHeads
    step_fn: MetaStep
    ema: object
    files: RunFiles | None
    held: list[str]
    skipped: SkippedClips
    step: int = 0
    seconds_before: float = 0.0  # wall time of earlier sessions of this run

    def loader(self) -> DataLoader:
        """Episodes from where the run stands: the stream is a pure function of (seed, position)."""
        c = self.config
        sampler = EpisodeSampler(len(self.dataset), seed=c.seed, start=self.step * c.batch_size * self.world,
                                 rank=self.rank, world=self.world)
        return DataLoader(self.dataset, batch_size=c.batch_size, sampler=sampler, num_workers=c.workers,
                          persistent_workers=c.workers > 0, pin_memory=self.device.type == "cuda")

    def checkpoint(self, seconds: float) -> None:
        """A checkpoint of everything a resume needs, then metrics.csv to the same step."""
        state = {"step": self.step, "seconds": seconds, "model": self.model.state_dict(),
                 "model_config": self.model.config.to_dict(), "train_config": self.config.to_dict(),
                 "optim": self.step_fn.state_dict(), "rng": rng_state(), "num_clips": len(self.dataset),
                 "video_index": list(self.dataset.video_index), "holdout": self.held}
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        save_checkpoint(step_path(self.config.out, self.step), state)
        prune_checkpoints(self.config.out, self.config.keep_last)
        self.files.flush()


def start_run(config: TrainConfig) -> Run:
    """Data, model, optimisers and run folder of ``config``, resumed from its newest checkpoint."""
    device, rank, world, distributed = _start_process_group(config)
    configure_threads(config.workers, device)
    out = Path(config.out)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    skipped = SkippedClips()
    train_ids, held = split_identities(config.data, config.holdout, config.seed, skipped)
    model_cfg = get_config(config.preset, **config.model)
    dataset = EpisodeDataset(config.data, k=config.k, size=model_cfg.image_size, identities=train_ids,
                             skipped=skipped, conditioning=create_generator(model_cfg).conditioning,
                             hard=config.hard, regions=bool(config.loss.regions))
    check_data_size(dataset, config.preset, model_cfg.image_size, config.data)
    if rank == 0:
        _sweep_temps(out)
    ckpt_path, checkpoint = load_latest(out, set_aside=rank == 0)
    if checkpoint is not None:
        check_resumable(ckpt_path, checkpoint)
    model = build_model(config, dataset.num_videos, checkpoint, ckpt_path).to(device)
    if checkpoint is None and config.init_from:
        log.info("initialised from %s: %s", config.init_from, warm_start(model, config.init_from))
    if config.optim.precision(device).channels_last:
        model = model.to(memory_format=torch.channels_last)
    content = ContentLoss(config.vgg19, config.vggface, config.loss).to(device) if (config.vgg19 or config.vggface) else None
    step_fn = MetaStep(model, content if content is not None and len(content.nets) else None,
                       config.loss_weights, config.optim, distributed=distributed, compile=config.compile)
    run = Run(config, device, rank, world, distributed, dataset, model, step_fn, _moving_average(model, config.ema),
              None, held, skipped)
    if checkpoint is not None:
        step_fn.load_state_dict(checkpoint["optim"])
        if run.ema is not None and "ema" in checkpoint:
            run.ema.load_state_dict(checkpoint["ema"])
        run.step, run.seconds_before = checkpoint["step"], checkpoint.get("seconds", 0.0)
        set_rng_state(checkpoint["rng"])
        log.info("resumed from %s at step %d", ckpt_path, run.step)
    run.files = RunFiles(out, run.step, held) if rank == 0 else None
    return run


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Run (or resume) training; returns a summary with the last losses and timings.

    The run folder is locked while it runs (by rank 0, its one writer): a second run into the
    same folder is refused before any work, naming the first one's pid.
    """
    if _rank_from_env() != 0:
        return _train(config, progress)
    with RunLock(config.out):
        return _train(config, progress)


def _rank_from_env() -> int:
    """This process's rank under torchrun (0 outside it), before the process group is joined."""
    return int(os.environ["RANK"]) if "RANK" in os.environ and "WORLD_SIZE" in os.environ else 0


def _train(config: TrainConfig, progress: bool) -> dict:
    run = start_run(config)
    first_step = run.step  # a resumed run already at config.steps trains nothing ("trained": 0)
    started = time.perf_counter()
    losses: dict[str, float] = {}
    bar = tqdm(total=config.steps, initial=run.step, desc="train", disable=not (progress and run.files))
    batches = iter(run.loader())
    try:
        while run.step < config.steps:
            batch = next(batches)
            run.dataset.note_skipped(batch)
            step_started = time.perf_counter()
            losses = run.step_fn(batch)
            run.step += 1
            if run.ema is not None:
                run.ema.update_parameters(run.model.generator)
            seconds = run.seconds_before + time.perf_counter() - started
            bar.update()
            out_of_time = _stop_together(bool(config.max_minutes and seconds >= 60 * config.max_minutes),
                                         run.distributed and bool(config.max_minutes), run.device)
            if run.files is not None:
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
                _after_step(run, batch, losses, seconds, time.perf_counter() - step_started, out_of_time)
            if out_of_time:
                log.info("time budget of %.1f min reached at step %d", config.max_minutes, run.step)
                break
    finally:
        bar.close()
        if run.files is not None:
            run.files.close()
        if run.skipped:
            log.warning("%s", run.skipped.summary())
    if run.distributed:  # wait until rank 0 has written its files, then tear the group down together
        dist.barrier()
        dist.destroy_process_group()
    return {"step": run.step, "trained": run.step - first_step, "losses": losses, "seconds": run.seconds_before + time.perf_counter() - started,
            "num_videos": run.dataset.num_videos, "clips": len(run.dataset), "device": str(run.device),
            "world": run.world, "corrupt_clips": len(run.skipped), "corrupt": dict(run.skipped.reasons)}


def _after_step(run: Run, batch: dict, losses: dict, seconds: float, step_seconds: float, out_of_time: bool) -> None:
    """Rank 0's callbacks after a step: the metrics row, a sample grid, a checkpoint. A time-boxed
    run on a slow machine still ends with all three."""
    c, step = run.config, run.step
    last = step == c.steps or out_of_time
    if step % c.log_every == 0 or last:
        run.files.log(step, losses, seconds, step_seconds)
    if c.image_every and (step % c.image_every == 0 or last):
        run.files.samples(run.model, batch, run.device, step)
    if step % c.checkpoint_every == 0 or last:
        run.checkpoint(seconds)


def _moving_average(model, decay: float):
    """An exponential moving average of G (``decay`` 0: none)."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel

    return AveragedModel(model.generator, avg_fn=ema_with_warmup(decay), use_buffers=True)


def _plot_run(out: Path) -> None:
    """Redraw loss_curve.png from metrics.csv; a run that never logged a step has nothing to draw.

    Runs in train()'s ``finally:``, so it never raises: an error here would replace the one
    that ended the run (or fail a run that went well) over a picture.
    """
    try:
        from ..viz import plot_losses

        plot_losses(out / "metrics.csv", out / "loss_curve.png")
    except ValueError as err:
        log.info("no loss curve: %s", err)
    except Exception as err:
        log.warning("could not draw %s (%s: %s)", out / "loss_curve.png", type(err).__name__, err)


@torch.no_grad()
def _write_samples(model, batch, device, path, writer, step):
    model.eval()
    shots = batch["shots"][:4].to(device)
    e_hat = model.embedder.embed(shots, batch["shot_landmarks"][:4].to(device))
    inputs = {k: v[:4].to(device) for k, v in select(model.generator.conditioning, batch).items()}
    fake = model.generator(batch["target_landmarks"][:4].to(device), e_hat, **inputs)
    grid = sample_grid(batch, fake.cpu())
    save_image(path, grid, synthetic=True)
    if writer:
        writer.add_image("samples", grid, step, dataformats="HWC")
    model.train()


def _kept_metrics(path: Path, step: int) -> list[str]:
    """The lines of metrics.csv a resumed run continues from (rewritten at its next checkpoint).

    Drops rows past ``step`` (logged by a run killed after its last checkpoint; they will be
    run again), a last row cut off mid-line by a kill (no newline: the next row would be glued
    to it, e.g. a bogus step 331) and rows that don't parse (warned).
    """
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    header = lines[:1] if lines and lines[0].endswith("\n") else []  # a header cut off is written anew
    rows = [row for row in lines[1:] if header and row.endswith("\n") and _row_step(row) is not None]
    if len(header) + len(rows) < len(lines):
        log.warning("%s: dropped %d damaged row(s)", path, len(lines) - len(header) - len(rows))
    return header + [row for row in rows if _row_step(row) <= step]


def _row_step(row: str) -> int | None:
    try:
        return int(row.split(",", 1)[0])
    except ValueError:
        return None


def _sweep_temps(out: Path) -> None:
    """Remove temp files of writes that were killed (checkpoints, samples) from the run folder."""
    removed = [p for folder in (out, out / "samples") for p in sweep_stale_temps(folder, STALE_TEMP_SECONDS)]
    if removed:
        log.info("removed %d temp file(s) left by killed writes: %s", len(removed),
                 ", ".join(p.name for p in removed))


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional at run time
        return None
    return SummaryWriter(str(out / "tensorboard"))
