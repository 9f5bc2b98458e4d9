"""Checkpoints: atomic writes, keep-last-N, safe loading, clear errors.

A checkpoint is a plain dict of tensors, numbers, strings and lists, loaded with
``torch.load(..., weights_only=True)`` so a file can't run code. It carries the model
config, so a model can be rebuilt from the file alone.

Loading never tells a user to turn that safety off: torch's own advice ("re-running with
weights_only=False will likely succeed") is replaced by saying the file is not a safe fsth
file (:func:`safe_torch_load`). Resuming takes the newest checkpoint that loads; a damaged
newer one is kept aside as ``NAME.corrupt``, never deleted (:func:`load_latest`). Loaders check
what they read before using it (:func:`check_finite`, :func:`check_shots`): NaN weights or shots
that don't fit are one line naming the file, not a black video.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path

import torch

log = logging.getLogger(__name__)
FORMAT = "fsth-checkpoint-1"
_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint can't be used; the message names the file and why."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the old file intact."""
    from .atomic import atomic_write

    path = Path(path)
    with atomic_write(path) as f:
        torch.save({"format": FORMAT, **state}, f)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely; a corrupt or foreign file raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    state = safe_torch_load(path, "fsth checkpoint", map_location=map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an fsth checkpoint (format {state.get('format') if isinstance(state, dict) else type(state).__name__!r})")
    return state


def safe_torch_load(path: str | os.PathLike, what: str, error: type[Exception] = CheckpointError,
                    map_location="cpu"):
    """``torch.load(path, weights_only=True)``, failing with ``error`` naming the file.

    A file that holds more than tensors and plain values (a pickle that could run code) is
    called what it is, "not a safe {what}": torch's hint to retry with ``weights_only=False``
    must never reach a user, so it is dropped from the message (and the chained traceback).
    Random bytes, a truncated or a foreign file are "not a valid, readable {what}" instead.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        detail = _torch_reason(err)
        if not _PYTHON_OBJECTS.search(str(err)):  # random bytes, a foreign pickle opcode: damaged, not dangerous
            raise error(f"{path}: not a valid, readable {what} (damaged, truncated or not a file fsth wrote"
                        f"{f': {detail}' if detail else ''})") from None
        raise error(f"{path}: not a safe {what}: it holds Python objects that a weights-only load refuses"
                    f"{f' ({detail})' if detail else ''}; fsth never loads such a file, since loading it "
                    "could run code. Use a file written by fsth.") from None
    except Exception as err:  # truncated zip, not a torch file at all, unreadable
        raise error(f"{path}: not a valid, readable {what} ({type(err).__name__}: {_torch_reason(err)})") from None


# what torch's weights-only unpickler says of a pickle that names classes or functions (globals)
_PYTHON_OBJECTS = re.compile(r"\bGLOBAL\b|allowlisted|safe_globals|call reduce|new object", re.IGNORECASE)


def check_finite(path: str | os.PathLike, tensors: dict, what: str) -> None:
    """:class:`CheckpointError` naming ``path`` unless every float tensor in ``tensors`` is finite
    (NaN weights render black frames without a word; better refused when the file loads)."""
    bad = [name for name, t in tensors.items()
           if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"{path}: {what} holds NaN or infinite values ({', '.join(bad[:3])}"
                              f"{' ...' if len(bad) > 3 else ''}); the file is damaged or its training diverged")


def check_shots(path: str | os.PathLike, shots, landmarks, max_side: int = 1024) -> None:
    """:class:`CheckpointError` naming ``path`` unless ``shots`` are uint8 (K, R, R, 3) crops with
    16 <= R <= ``max_side`` (twice what ``fsth finetune`` writes) and ``landmarks`` float (K, 68, 2),
    finite, within 10 R of the crop."""
    if not isinstance(shots, torch.Tensor) or shots.dtype != torch.uint8 or shots.dim() != 4 \
            or shots.shape[0] < 1 or shots.shape[3] != 3 or shots.shape[1] != shots.shape[2] \
            or not 16 <= shots.shape[1] <= max_side:
        found = f"{shots.dtype} {tuple(shots.shape)}" if isinstance(shots, torch.Tensor) else type(shots).__name__
        raise CheckpointError(f"{path}: shots must be uint8 square crops (K, R, R, 3) with R from 16 to {max_side} "
                              f"pixels, found {found}")
    k, side = shots.shape[0], shots.shape[1]
    if not isinstance(landmarks, torch.Tensor) or not landmarks.is_floating_point() \
            or tuple(landmarks.shape) != (k, 68, 2):
        found = f"{landmarks.dtype} {tuple(landmarks.shape)}" if isinstance(landmarks, torch.Tensor) else type(landmarks).__name__
        raise CheckpointError(f"{path}: landmarks must be float ({k}, 68, 2), one set per shot, found {found}")
    if not bool(torch.isfinite(landmarks).all()):
        raise CheckpointError(f"{path}: landmarks hold NaN or infinite values")
    if float(landmarks.abs().max()) > 10 * side:
        raise CheckpointError(f"{path}: landmarks reach {float(landmarks.abs().max()):.3g} pixels, beyond 10x "
                              f"the {side}-pixel shots; they don't belong to these crops")


def _torch_reason(err: Exception) -> str:
    """The specific part of a torch.load error, without its advice to load unsafely."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return " ".join(line for line in lines if not re.search(
        r"weights.only|re-running|torch\.load|https?://", line, re.IGNORECASE))


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


def load_latest(folder: str | os.PathLike, set_aside: bool = True) -> tuple[Path | None, dict | None]:
    """The newest step checkpoint of ``folder`` that loads, and its state; (None, None) if none exist.

    A newer one that doesn't load (cut off by a full disk or a crash of the file system) is
    skipped with a warning naming it and renamed ``NAME.corrupt`` (``set_aside``; only one
    process of a distributed run should), so the run falls back instead of being stuck.
    If no checkpoint loads, :class:`CheckpointError` says so and nothing is renamed.
    """
    bad: list[tuple[Path, CheckpointError]] = []
    for path in reversed(list_checkpoints(folder)):
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            bad.append((path, err))
            continue
        for damaged, err in bad:
            kept = _set_aside(damaged) if set_aside else damaged
            log.warning("%s; resuming from %s instead (the damaged file is kept as %s)", err, path.name, kept)
        return path, state
    if bad:
        raise CheckpointError(f"no checkpoint in {folder} loads: {bad[0][1]}; move the step-*.pt files "
                              "elsewhere to start afresh, or choose another run folder")
    return None, None


def _set_aside(path: Path) -> Path:
    """Rename a damaged file NAME.corrupt (NAME.corrupt.1, ... if taken): kept, never overwritten."""
    for n in range(1000):
        target = path.with_name(f"{path.name}.corrupt{f'.{n}' if n else ''}")
        if not target.exists():
            path.rename(target)
            return target
    return path
