"""Meta-learning episodes: one clip, K + 1 distinct frames — K shots for the embedder and
one held-out target (never one of the K) — plus the video's index into D's W.

The order of episodes is a pure function of (seed, position in the stream), so training
resumes exactly where it stopped, with or without DataLoader workers, on any number of
DDP ranks (rank r takes positions r, r + world, r + 2 world, ...).

A corrupt clip never stops training: one that fails the structural checks is left out when
the dataset is built, and an episode whose frames turn out damaged when it reads them is
replaced by the episode of the next clip in the dataset's order (same seed). The decision
depends on the key and the files only (nothing is remembered between episodes), so the
stream stays a pure function of (seed, position) and a resumed run stays bit-identical.
Either way the clip is logged once and counted in :attr:`EpisodeDataset.skipped`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..io.clips import ClipError, SkippedClips, list_clips, load_clip, read_landmarks, readable_clips
from ..io.tensors import resize_frames, to_tensor, to_uint8  # noqa: F401  (re-exported for notebooks)
from ..landmarks.draw import draw_landmarks
from ..landmarks.regions import eye_opening, mouth_opening, warp_priors, yaw
from ..nn.conditioning import build as build_conditioning, check as check_conditioning

log = logging.getLogger(__name__)


class EpisodeDataset(Dataset):
    """Episodes from a folder of clips (``fsth preprocess`` or ``fsth synth`` output).

    Items are addressed by ``(clip index, seed)`` keys from :class:`EpisodeSampler`.
    Clips with fewer than K + 1 frames are left out (and counted in the log); corrupt clips
    are skipped as the module docstring says, and collected in ``skipped`` (pass one
    :class:`SkippedClips` to several datasets over the same files to warn only once).
    """

    def __init__(self, clips: str | os.PathLike | Sequence[Path], k: int = 8, size: int = 64,
                 identities: set[str] | None = None, skipped: SkippedClips | None = None,
                 conditioning: tuple[str, ...] = (), hard: float = 0.0, regions: bool = False):
        paths = list_clips(clips) if isinstance(clips, (str, os.PathLike)) else list(clips)
        self.skipped = SkippedClips() if skipped is None else skipped
        found = readable_clips(paths, self.skipped)
        keep = [(p, m) for p, m in found if m["num_frames"] >= k + 1
                and (identities is None or m["identity"] in identities)]
        short = sum(1 for _, m in found if m["num_frames"] < k + 1)
        if short:
            log.info("episodes: %d clip(s) with fewer than K + 1 = %d frames left out", short, k + 1)
        if not keep:
            raise ValueError(f"no readable clip with at least K + 1 = {k + 1} frames in {clips}")
        self.paths = [p for p, _ in keep]
        self.metas = [m for _, m in keep]
        self.k, self.size = k, size
        check_conditioning(conditioning)
        self.conditioning = conditioning  # what the generator needs beyond the episode (fsth.nn.conditioning)
        self.hard = hard  # share of episodes whose target is chosen where warping fails (warp_hard_frames)
        self.regions = regions  # add "regions" (1, S, S): the target's mouth interior and closing eyes
        videos = sorted({self.video_key(m) for m in self.metas})
        self.video_index = {v: i for i, v in enumerate(videos)}
        self.identities = sorted({m["identity"] for m in self.metas})
        self._faults: dict[int, str] = {}  # why clips read in this process failed (for note_skipped)

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
        """The episode of ``key``; besides the images, ``clip`` is the clip it came from and
        ``skipped`` how many corrupt clips were passed over to find it (see :meth:`note_skipped`)."""
        index, seed = key if isinstance(key, tuple) else (key, key)
        for passed in range(len(self.paths)):
            clip = (index + passed) % len(self.paths)
            try:
                item = self._episode(clip, seed)
            except ClipError as err:
                self._faults[clip] = str(err)
                continue
            return {**item, "clip": torch.tensor(clip), "skipped": torch.tensor(passed)}
        raise ClipError(f"no clip of {len(self.paths)} gives a readable episode, e.g. {self._faults[index]}")

    def note_skipped(self, batch: dict) -> None:
        """Record in ``skipped`` the corrupt clips that a (collated) batch's episodes passed
        over — in the process that trains, however many DataLoader workers read them."""
        for clip, passed in zip(batch["clip"].reshape(-1).tolist(), batch["skipped"].reshape(-1).tolist()):
            for bad in ((clip - j) % len(self.paths) for j in range(1, passed + 1)):
                path = self.paths[bad]
                if str(path) not in self.skipped.reasons:
                    self.skipped.add(path, self._faults.get(bad) or _fault(path))

    def _episode(self, index: int, seed: int) -> dict[str, torch.Tensor]:
        meta = self.metas[index]
        rng = np.random.default_rng(seed)
        if self.hard and rng.random() < self.hard:
            chosen = warp_hard_frames(read_landmarks(self.paths[index]), self.k, rng)
        else:
            chosen = rng.choice(meta["num_frames"], size=self.k + 1, replace=False)
        frames, landmarks, _ = load_clip(self.paths[index], chosen)
        frames, landmarks = resize_frames(frames, landmarks, self.size)
        images, drawn = to_tensor(frames), to_tensor(draw_landmarks(landmarks, self.size))
        episode = {"shots": images[:-1], "shot_landmarks": drawn[:-1], "target": images[-1],
                   "target_landmarks": drawn[-1], "target_points": torch.from_numpy(np.float32(landmarks[-1])),
                   "video": torch.tensor(self.video_index[self.video_key(meta)])}
        extra = [name for name in self.conditioning if name not in episode]
        for name, value in build_conditioning(extra, images[:-1], landmarks[:-1], landmarks[-1:], self.size).items():
            episode[name] = value[0]
        if self.regions:  # where a warp of the shots fails: the loss looks harder there
            episode["regions"] = torch.from_numpy(warp_priors(landmarks[:1], landmarks[-1:], self.size)[0].max(0)[None])
        return episode


HARD_KINDS = ("mouth", "eyes", "turn")


def warp_hard_frames(landmarks: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """K shot frames and a target (last) where a warp of the shots must fail, by one of
    :data:`HARD_KINDS` picked at random: shots with the mouth most closed and a target with it
    most open; shots with the eyes most open and a target with them most closed; or shots and a
    target at opposite ends of the head's turn. Frames are drawn among the top third of each end,
    so episodes differ; a clip too short for that falls back to distinct random frames."""
    count = len(landmarks)
    third = max(1, count // 3)
    if count < 2 * third or k > third:
        return rng.choice(count, size=k + 1, replace=False)
    kind = HARD_KINDS[rng.integers(len(HARD_KINDS))]
    score = {"mouth": mouth_opening, "eyes": lambda p: -eye_opening(p), "turn": yaw}[kind](landmarks)
    if kind == "turn" and rng.random() < 0.5:
        score = -score
    order = np.argsort(score, kind="stable")
    shots = rng.choice(order[:third], size=k, replace=False)
    target = rng.choice(order[-third:])
    return np.append(shots, target)


def _fault(path: Path) -> str:
    """Why a clip can't be read (a worker process found it; read it again here to say why)."""
    try:
        load_clip(path)
    except ClipError as err:
        return str(err)
    return f"{path}: unreadable while training (reads fine now)"


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
