"""Does fsth's provenance mark survive what happens to a video on its way to a viewer?

The detectors look for traces a generator leaves by accident; ``fsth animate --watermark``
(the demo's default) leaves one on purpose: an invisible mark in the pixels
(:mod:`fsth.provenance`). Here every fake video of the study is marked and every real one is
left alone; both go through the same re-encodings, and per condition we count the fake videos
whose mark still reads (``is_marked`` on all frames of the video) and the real videos wrongly
read as marked, each share with a cluster-bootstrap interval over groups.

A mark only helps with fakes made by honest tools that apply it: someone who means harm
simply doesn't — which is why the report measures detectors too.
"""
from __future__ import annotations

import numpy as np

from .controls import down_up
from .data import FaceSet, encode
from .protocol import estimate

CONDITIONS = {
    "lossless": ("none", 0),
    "JPEG q95": ("jpeg", 95),
    "JPEG q75": ("jpeg", 75),
    "JPEG q50": ("jpeg", 50),
    "H.264 CRF 23": ("h264", 23),
    "H.264 CRF 40": ("h264", 40),
    "halved and enlarged": ("down_up", 2),
}


def mark_fakes(faces: FaceSet) -> FaceSet:
    """The same faces with fsth's invisible mark in every fake frame (reals untouched)."""
    from fsth.provenance import embed

    images = faces.images.copy()
    fake = faces.labels == 1
    if fake.any():
        images[fake] = embed(images[fake])
    return faces.with_images(images)


def reads_marked(faces: FaceSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per video: (label, group, whether fsth.provenance reads its mark from all its frames)."""
    from fsth.provenance import is_marked

    videos = np.unique(faces.videos)
    first = [np.flatnonzero(faces.videos == v)[0] for v in videos]
    read = np.array([is_marked(faces.images[faces.videos == v]) for v in videos], float)
    return faces.labels[first], faces.groups[first], read


def survival(faces: FaceSet, n_boot: int = 300) -> dict:
    """{condition: {"fakes_read", "reals_read" (estimates of the shares), "videos": [reals, fakes]}}
    for ``faces`` before any encoding (the marks go in first, as ``fsth animate`` does)."""
    marked = mark_fakes(faces)
    out = {}
    for name, (codec, quality) in CONDITIONS.items():
        if codec == "down_up":
            seen = marked.with_images(down_up(marked.images, quality))
        else:
            seen = encode(marked, codec, quality)
        labels, groups, read = reads_marked(seen)
        fake, real = labels == 1, labels == 0
        out[name] = {"fakes_read": estimate(np.mean, groups[fake], read[fake], n_boot=n_boot),
                     "reals_read": estimate(np.mean, groups[real], read[real], n_boot=n_boot),
                     "videos": [int(real.sum()), int(fake.sum())]}
    return out
