"""Meta-learning episodes: one clip, K + 1 distinct frames — K shots for the embedder and
one held-out target (never one of the K) — plus the video's index into D's W.

The order of episodes is a pure function of (seed, position in the stream), so training
resumes exactly where it stopped, with or without DataLoader workers, on any number of
DDP ranks (rank r takes positions r, r + world, r + 2 world, ...).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..data.clips import list_clips, load_clip, read_meta
from ..landmarks.draw import draw_landmarks

log = logging.getLogger(__name__)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1)
    return t.movedim(-1, -3)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().movedim(-3, -1).cpu().numpy()


def resize_frames(frames: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize square frames (T, S, S, 3) to ``size`` and move the landmarks with them."""
    src = frames.shape[1]
    if src == size:
        return frames, landmarks
    interp = cv2.INTER_AREA if src > size else cv2.INTER_CUBIC
    frames = np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])
    return frames, (landmarks + 0.5) * (size / src) - 0.5


class EpisodeDataset(Dataset):
    """Episodes from a folder of clips (``fsth preprocess`` or ``fsth synth`` output).

    Items are addressed by ``(clip index, seed)`` keys from :class:`EpisodeSampler`.
    Clips with fewer than K + 1 frames are left out (and counted in the log).
    """

    def __init__(self, clips: str | os.PathLike | Sequence[Path], k: int = 8, size: int = 64,
                 identities: set[str] | None = None):
        paths = list_clips(clips) if isinstance(clips, (str, os.PathLike)) else list(clips)
        metas = [read_meta(p) for p in paths]
        keep = [i for i, m in enumerate(metas) if m["num_frames"] >= k + 1
                and (identities is None or m["identity"] in identities)]
        short = sum(1 for m in metas if m["num_frames"] < k + 1)
        if short:
            log.info("episodes: %d clip(s) with fewer than K + 1 = %d frames left out", short, k + 1)
        if not keep:
            raise ValueError(f"no clip with at least K + 1 = {k + 1} frames in {clips}")
        self.paths = [paths[i] for i in keep]
        self.metas = [metas[i] for i in keep]
        self.k, self.size = k, size
        videos = sorted({self.video_key(m) for m in self.metas})
        self.video_index = {v: i for i, v in enumerate(videos)}
        self.identities = sorted({m["identity"] for m in self.metas})

    @staticmethod
    def video_key(meta: dict) -> str:
        return f"{meta['identity']}/{meta.get('video', '')}"

    @property
    def num_videos(self) -> int:
        """Rows of D's W this dataset needs: one per source video."""
        return len(self.video_index)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, key)
        meta = self.metas[index]
        rng = np.random.default_rng(seed)
        chosen = rng.choice(meta["num_frames"], size=self.k + 1, replace=False)
        frames, landmarks, _ = load_clip(self.paths[index], chosen)
        frames, landmarks = resize_frames(frames, landmarks, self.size)
        images, drawn = to_tensor(frames), to_tensor(draw_landmarks(landmarks, self.size))
        return {"shots": images[:-1], "shot_landmarks": drawn[:-1], "target": images[-1],
                "target_landmarks": drawn[-1],
                "video": torch.tensor(self.video_index[self.video_key(meta)])}


class EpisodeSampler(Sampler):
    """An endless, resumable stream of (clip index, seed) keys.

    Position p of the stream lies in epoch p // n, where clips follow a permutation drawn
    from (seed, epoch); the frames of that episode are drawn from (seed, p).
    """

    def __init__(self, num_clips: int, seed: int = 0, start: int = 0, rank: int = 0, world: int = 1):
        self.n, self.seed, self.start, self.rank, self.world = num_clips, seed, start, rank, world
        self._epoch, self._order = -1, None

    def key(self, position: int) -> tuple[int, int]:
        epoch, offset = divmod(position, self.n)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return int(self._order[offset]), int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start + self.rank
        while True:
            yield self.key(position)
            position += self.world

    def __len__(self) -> int:  # endless; DataLoader only needs a number
        return 2 ** 62
