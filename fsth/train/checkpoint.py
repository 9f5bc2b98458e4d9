"""Checkpoints: atomic writes, keep-last-N, safe loading, clear errors.

A checkpoint is a plain dict of tensors, numbers, strings and lists, loaded with
``torch.load(..., weights_only=True)`` so a file can't run code. It carries the model
config, so a model can be rebuilt from the file alone.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import torch

FORMAT = "fsth-checkpoint-1"
_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint can't be used; the message names the file and why."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the old file intact."""
    from ..io import atomic_write

    path = Path(path)
    with atomic_write(path) as f:
        torch.save({"format": FORMAT, **state}, f)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely; a corrupt or foreign file raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle with code, not a torch file at all
        raise CheckpointError(f"{path}: not a readable fsth checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an fsth checkpoint (format {state.get('format') if isinstance(state, dict) else type(state).__name__!r})")
    return state


def step_path(folder: str | os.PathLike, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}.pt"


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """Step checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(folder: str | os.PathLike, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step checkpoints."""
    for path in list_checkpoints(folder)[:-keep_last] if keep_last > 0 else []:
        path.unlink(missing_ok=True)


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None
