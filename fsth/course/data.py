"""The course's plumbing: where notebooks keep their data, the small SynthHeads set they share,
and the model notebook 06 trains and 07–09 reuse."""
from __future__ import annotations

import os
import sys
from pathlib import Path




def course_dir() -> Path:
    """Where the notebooks keep what they make: ``$FSTH_COURSE_DIR``, else ``<fsth cache>/course``."""
    from ..data.samples import cache_dir

    return Path(os.environ.get("FSTH_COURSE_DIR") or cache_dir() / "course")


COURSE_SIZES = {"tiny": {"embed_dim": 128}}  # the course's model: tiny with a 128-dim ê (3.7M parameters)


def course_config(preset: str = "tiny", **overrides):
    """The ModelConfig of the course's model for ``preset``: the tiny preset with a 128-dimensional
    embedding — the size of fsth's precomputed course model (``fsth/pretrained/course_tiny_synth.pt``,
    ``configs/tiny_course.yaml``) — and the other presets as they are."""
    from ..nn import get_config

    return get_config(preset, **{**COURSE_SIZES.get(preset, {}), **overrides})


def course_data(preset: str = "tiny", fast: bool = True) -> Path:
    """The SynthHeads set the course trains on (written once, then reused).

    FAST: 24 people × 2 clips × 16 frames (seconds to write); otherwise 500 × 2 × 32.
    """
    from ..data.synthetic import write_dataset
    from ..nn import get_config

    size = get_config(preset).image_size
    people, frames = (24, 16) if fast else (500, 32)
    out = course_dir() / f"synth-{size}px-{people}x2x{frames}"
    write_dataset(out, identities=people, clips_per_identity=2, frames=frames, size=size, seed=0,
                  workers=1 if fast else max(1, (os.cpu_count() or 1) - 1), progress=False)
    return out


def course_train_config(preset: str = "tiny", fast: bool = True, device: str = "auto", minutes: float | None = None):
    """The training run of notebook 06: meta-learning on :func:`course_data`, 4 people held out.

    FAST: K = 4, batch 4, a higher learning rate, for ``minutes`` (1 by default) on a CPU;
    otherwise the paper's K = 8, batch 8 and learning rates, 20,000 steps.
    """
    from ..train.config import TrainConfig

    data = course_data(preset, fast)
    amp = "auto"  # bf16 only where the hardware has it natively (fsth.hardware)
    common = dict(data=str(data), out=str(course_dir() / f"run-{preset}-{'fast' if fast else 'full'}"), preset=preset,
                  holdout=4, seed=0, device=device, vgg19=None if fast else "auto")
    if fast:
        return TrainConfig(**common, k=4, batch_size=4, steps=100_000, max_minutes=1.0 if minutes is None else minutes,
                           log_every=1, image_every=50, checkpoint_every=100_000, keep_last=1,
                           optim={"lr_g": 3e-4, "lr_d": 1.2e-3, "amp": amp})
    return TrainConfig(**common, k=8, batch_size=8, steps=20_000, max_minutes=minutes or 0.0, log_every=20,
                       image_every=500, checkpoint_every=1000, optim={"amp": amp}, ema=0.999)


def course_model(preset: str = "tiny", fast: bool = True, device: str = "cpu", checkpoint: str | None = None,
                 minutes: float = 0.6):
    """The meta-learned model for notebooks 07–09: ``checkpoint`` if given, else notebook 06's
    run, else a run trained now (FAST: ``minutes`` on this machine).

    Returns (model, info): info holds ``checkpoint``, ``data`` and the ``holdout`` identities
    (people the model never saw).
    """
    from ..io.checkpoint import latest_checkpoint, load_checkpoint
    from ..person import load_model
    from ..train.meta import train

    if checkpoint is None:
        config = course_train_config(preset, fast, device, minutes=minutes if fast else None)
        found = latest_checkpoint(config.out)
        if found is None:
            print(f"no model from notebook 06 in {config.out}: training one now "
                  f"({f'{minutes:g} min' if fast else f'{config.steps} steps'})", file=sys.stderr)
            train(config, progress=False)
            found = latest_checkpoint(config.out)
        checkpoint = found
    state = load_checkpoint(checkpoint)
    model = load_model(checkpoint, device=device)
    info = {"checkpoint": Path(checkpoint), "data": state["train_config"].get("data"), "step": state["step"],
            "holdout": list(state.get("holdout") or [])}
    return model, info


def course_people(size: int = 64, fast: bool = True) -> Path:
    """New people for notebooks 07–09: SynthHeads drawn with another seed (1) than the training sets
    (seed 0), so neither the shipped model nor notebook 06's run has seen them.

    FAST: 24 people × 2 clips × 16 frames; otherwise 100 × 2 × 32."""
    from ..data.synthetic import write_dataset

    people, frames = (24, 16) if fast else (100, 32)
    out = course_dir() / f"people-{size}px-{people}x2x{frames}"
    write_dataset(out, identities=people, clips_per_identity=2, frames=frames, size=size, seed=1,
                  workers=1 if fast else max(1, (os.cpu_count() or 1) - 1), progress=False)
    return out
