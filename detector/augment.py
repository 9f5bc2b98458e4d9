"""Training augmentation, drawn the same way for both classes: what media goes through on its
way to a viewer, so that no detector can tell real from fake by it.

Each training image gets a chain of steps, each with its own chance (:class:`Augmentation`):

1. an H.264 copy at one of several CRFs in its place (every video of the training set encoded
   once per CRF before training, :func:`codec_copies`: x264 per batch would cost more than
   the CNN's step);
2. a resize chain: down by a factor in [0.25, 1] and back up, with random interpolations;
3. Gaussian blur;
4. JPEG at a random quality;
5. a horizontal flip and brightness / contrast jitter.

The label never enters, so real and fake images see the same distribution of chains: a
detector that leant on blur, resampling or compression is trained out of it, and has to find
the forgery. ``augment`` (torch tensors, for the CNNs) and :func:`augment_images` (uint8
arrays, for the frequency model and the linear probe) draw from the same chain.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .data import h264, jpeg

INTERPOLATIONS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST)


@dataclass(frozen=True)
class Augmentation:
    """Chances (0-1) and ranges of the chain's steps."""

    codec: float = 0.4  # replace the image by its H.264 copy at one of ``crfs``
    crfs: tuple[int, ...] = (23, 30, 38)
    resize: float = 0.5  # down by a factor in ``scale`` and back up
    scale: tuple[float, float] = (0.25, 1.0)
    blur: float = 0.3  # Gaussian blur, sigma in ``sigma`` pixels
    sigma: tuple[float, float] = (0.1, 2.0)
    jpeg: float = 0.5  # JPEG at a quality in ``quality``
    quality: tuple[int, int] = (30, 100)
    flip: float = 0.5
    colour: float = 0.5  # brightness and contrast, each times 0.8-1.2


DEFAULT = Augmentation()
NONE = Augmentation(codec=0, resize=0, blur=0, jpeg=0, flip=0, colour=0)


def codec_copies(images: np.ndarray, videos: np.ndarray, cfg: Augmentation = DEFAULT) -> list[np.ndarray]:
    """The training images H.264-encoded once per CRF of ``cfg.crfs``, each video as one stream
    (in memory): the copies :func:`augment_images` samples from."""
    if cfg.codec <= 0 or not len(images):
        return []
    return [h264(images, videos, crf) for crf in cfg.crfs]


def resize_chain(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` shrunk by ``factor`` and enlarged back, each way with a random interpolation."""
    side = image.shape[0]
    small = max(4, int(round(side * factor)))
    if small >= side:
        return image
    down, up = (INTERPOLATIONS[int(rng.integers(len(INTERPOLATIONS)))] for _ in range(2))
    return cv2.resize(cv2.resize(image, (small, small), interpolation=down), (side, side),
                      interpolation=cv2.INTER_LINEAR if up == cv2.INTER_AREA else up)


def augment_images(images: np.ndarray, rng: np.random.Generator, copies: list[np.ndarray] | None = None,
                   rows: np.ndarray | None = None, cfg: Augmentation = DEFAULT) -> np.ndarray:
    """One random chain per image: uint8 (B, S, S, 3) in and out. ``copies``: the training set's
    H.264 copies (:func:`codec_copies`), indexed by ``rows`` (each image's row in the training set;
    default 0..B-1)."""
    out = []
    for j, image in enumerate(images):
        if copies and rng.random() < cfg.codec:
            image = copies[int(rng.integers(len(copies)))][rows[j] if rows is not None else j]
        if rng.random() < cfg.resize:
            image = resize_chain(image, rng.uniform(*cfg.scale), rng)
        if rng.random() < cfg.blur:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*cfg.sigma))
        if rng.random() < cfg.jpeg:
            image = jpeg(image[None], int(rng.integers(cfg.quality[0], cfg.quality[1] + 1)))[0]
        if rng.random() < cfg.flip:
            image = image[:, ::-1]
        if rng.random() < cfg.colour:
            brightness, contrast = rng.uniform(0.8, 1.2, 2)
            f = image.astype(np.float32)
            mean = f.mean()
            image = np.clip((f - mean) * contrast + mean * brightness, 0, 255).round().astype(np.uint8)
        out.append(np.ascontiguousarray(image))
    return np.stack(out) if out else images


def augment(x: torch.Tensor, generator: torch.Generator | np.random.Generator,
            copies: list[np.ndarray] | None = None, rows: np.ndarray | None = None,
            cfg: Augmentation = DEFAULT) -> torch.Tensor:
    """:func:`augment_images` for the CNNs: uint8 (B, 3, S, S) -> float (B, 3, S, S) in [0, 1]."""
    if isinstance(generator, torch.Generator):
        generator = np.random.default_rng(int(torch.randint(0, 2 ** 62, (), generator=generator)))
    images = augment_images(x.permute(0, 2, 3, 1).numpy(), generator, copies, rows, cfg)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def resampled_reals(reals, rng: np.random.Generator, scale: tuple[float, float] = (0.25, 0.8),
                    crfs: tuple[int, ...] = (18, 23, 28), photo: float = 0.3):
    """Hard negatives: a copy of every real video as low-resolution honest media reaches a
    detector — shrunk by one random factor in ``scale``, encoded *at that size* (H.264 at a CRF of
    ``crfs``, as a small video is; or, with chance ``photo``, JPEG q40–90, as a small photo is) and
    enlarged back when it is scored (random interpolations) — labelled real. A generator that
    resamples its shots (the warp) leaves resampling in every fake; trained beside these, a
    detector has to find something else to call a face fake, and its threshold (fitted on
    validation reals with their own copies) holds for low-resolution real video and photos.
    ``reals``: a FaceSet of real faces; returns the copies (same groups, videos suffixed
    ``~resampled``)."""
    from .data import FaceSet

    side = reals.images.shape[1]
    images = reals.images.copy()
    videos = np.array([f"{v}~resampled" for v in reals.videos])
    for video in np.unique(videos):
        rows = np.flatnonzero(videos == video)
        small = max(8, int(round(side * rng.uniform(*scale))))
        down, up = (INTERPOLATIONS[int(rng.integers(len(INTERPOLATIONS)))] for _ in range(2))
        shrunk = np.stack([cv2.resize(images[r], (small, small), interpolation=down) for r in rows])
        if rng.random() < photo:
            shrunk = jpeg(shrunk, int(rng.integers(40, 91)))
        else:
            shrunk = h264(shrunk, videos[rows], int(crfs[int(rng.integers(len(crfs)))]))
        up = cv2.INTER_LINEAR if up == cv2.INTER_AREA else up
        images[rows] = np.stack([cv2.resize(i, (side, side), interpolation=up) for i in shrunk])
    return FaceSet(images, reals.labels, reals.identities, videos, reals.settings, reals.groups)
