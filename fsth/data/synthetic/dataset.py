"""Write SynthHeads clips in the on-disk format of ``fsth preprocess`` (and the ``fsth synth`` command).

Layout: ``OUT/synth00042/clip01.npz``; each file is a clip of :mod:`fsth.io.clips` with the
metadata keys preprocessing writes, plus ``synthetic: True``, the seeds, the identity's
parameters and the per-frame pose; and beside the frames the exact region masks of every frame
(mouth, teeth, eyes, eyelids, head), packed in the extra array ``masks`` (:mod:`.masks`, read
them with ``load_masks``). Identity ``i`` depends only on (seed, i) and clip ``c`` of it only on
(seed, i, c), so a run can be resumed, extended or split across processes.
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from ...io.clips import save_clip
from .camera import CROP_MARGIN
from .identity import random_identity
from .masks import MASKS_KEY, REGIONS_KEY, pack_masks
from .motion import FPS
from .render import check_size, render_clip


def identity_name(index: int) -> str:
    return f"synth{index:05d}"


def clip_seed(seed: int, index: int, clip: int) -> int:
    """The seed of clip ``clip`` of identity ``index`` in a dataset made with ``seed``."""
    return int(np.random.SeedSequence([seed, index, clip]).generate_state(1)[0])


def write_clip(out: str | Path, seed: int, index: int, clip: int, frames: int, size: int,
               quality: int = 95) -> Path:
    """Render and save one clip with its region masks; returns its path."""
    who = random_identity(np.random.default_rng([seed, index]))
    this_seed = clip_seed(seed, index, clip)
    images, landmarks, poses, masks = render_clip(who, frames, size, this_seed, masks=True)
    packed, regions = pack_masks(masks)
    name = identity_name(index)
    meta = {
        "identity": name, "video": f"clip{clip + 1:02d}", "source": f"fsth.data.synthetic seed {seed}",
        "kind": "video", "frame_indices": np.arange(frames),
        "frame_names": [f"frame {t}" for t in range(frames)],
        "boxes": np.tile([0.0, 0.0, float(size)], (frames, 1)), "source_size": [size, size],
        "backend": "synthetic", "fps": FPS, "margin": CROP_MARGIN, "dropped_frames": 0,
        "synthetic": True, "seed": seed, "identity_index": index, "clip_seed": this_seed,
        "identity_params": asdict(who), "poses": {k: np.round(v, 4) for k, v in poses.items()},
        REGIONS_KEY: regions,
    }
    return save_clip(Path(out) / name / f"clip{clip + 1:02d}.npz", images, landmarks, meta, quality,
                     arrays={MASKS_KEY: packed})


def _check(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _init_worker():
    cv2.setNumThreads(1)


def write_dataset(out: str | Path, identities: int = 500, clips_per_identity: int = 2, frames: int = 32,
                  size: int = 64, seed: int = 0, workers: int = 1, quality: int = 95,
                  progress: bool = True) -> dict:
    """Render ``identities`` x ``clips_per_identity`` clips into ``out``; clips already there are kept.

    Returns counts: identities, clips, written, skipped, frames (rendered now), seconds,
    frames_per_second, out.
    """
    identities = _check("identities", identities, 1)
    clips_per_identity = _check("clips_per_identity", clips_per_identity, 1)
    frames = _check("frames", frames, 1)
    workers = _check("workers", workers, 1)
    size = check_size(size)
    seed = _check("seed", seed, 0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(i, c) for i in range(identities) for c in range(clips_per_identity)]
    todo = [(i, c) for i, c in jobs if not (out / identity_name(i) / f"clip{c + 1:02d}.npz").exists()]
    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc="synth", unit="clip", disable=not progress)
    if workers == 1 or len(todo) <= 1:
        for i, c in todo:
            write_clip(out, seed, i, c, frames, size, quality)
            bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            for future in as_completed([pool.submit(write_clip, out, seed, i, c, frames, size, quality)
                                        for i, c in todo]):
                future.result()
                bar.update()
    bar.close()
    seconds = time.perf_counter() - started
    return {"identities": identities, "clips": len(jobs), "written": len(todo),
            "skipped": len(jobs) - len(todo), "frames": len(todo) * frames, "seconds": seconds,
            "frames_per_second": len(todo) * frames / seconds if todo else 0.0, "out": str(out)}
