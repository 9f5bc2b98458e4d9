"""The live loop's inputs by name: a portrait cropped for rendering, a video to replay as a camera.

Both take a file path or the name of a sample (``fsth samples list``: ``monalisa``,
``grace_hopper`` ... for portraits, ``wolfgang``, ``single_face`` ... for videos), so a
benchmark or a test needs no media of its own.

    shots, points = portrait_shots("monalisa", 256)     # (1, 256, 256, 3), (1, 68, 2)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import samples
from ..errors import UsageError


def media_path(source: str, kind: str, flag: str = "") -> Path:
    """``source`` as a path: an existing file (or, for videos, a folder of frames), else the sample
    of that name and ``kind`` ("image" or "video"), fetched into the cache. A UsageError naming
    ``flag`` when it is neither."""
    path = Path(source)
    if path.is_file() or (kind == "video" and path.is_dir()):
        return path
    sample = samples.SAMPLES.get(str(source))
    if sample is not None and sample.kind == kind:
        return samples.fetch(sample.name)
    names = ", ".join(n for n, s in samples.SAMPLES.items() if s.kind == kind and not s.test_only)
    raise UsageError(f"{flag + ' ' if flag else ''}{source}: no such file, nor a sample {kind} ({names})")


def portrait_shots(source: str, size: int = 256, detector=None) -> tuple[np.ndarray, np.ndarray]:
    """The face of an image file or sample portrait cropped as ``fsth preprocess`` crops it, at
    ``size`` px: shots uint8 (1, size, size, 3) and their landmarks (1, 68, 2). detector: a
    landmark detector (default: dlib's)."""
    from ..io.images import read_image
    from ..landmarks import create_detector
    from ..person import crop_shots

    path = media_path(source, "image")
    return crop_shots([read_image(path)], size, detector or create_detector("dlib"), names=[str(source)])
