"""Face crops of arbitrary media, the way fsth's clips are cropped (for scoring)."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np


def face_crops(frames: Iterable[np.ndarray], size: int, source: str = "input", detector=None) -> np.ndarray:
    """Square crops (fsth.io.crop.CROP_MARGIN, like ``fsth preprocess``) of the largest face per frame;
    frames without a face are skipped. Returns (N, size, size, 3)."""
    crops = list(iter_face_crops(frames, size, source, detector))
    if not crops:
        raise ValueError(f"{source}: no face found to score")
    return np.stack(crops)


def iter_face_crops(frames: Iterable[np.ndarray], size: int, source: str = "input",
                    detector=None) -> Iterator[np.ndarray]:
    """The crops of :func:`face_crops` one by one, as the frames stream in: a frame is held only
    until the landmark detector's batch that holds it is done, never a whole video."""
    from fsth.io.crop import crop_face, face_box
    from fsth.landmarks import create_detector

    detector = detector or create_detector("dlib")
    waiting: deque[np.ndarray] = deque()  # frames handed to the detector, their landmarks not out yet

    def handed(frames):
        for frame in frames:
            waiting.append(frame)
            yield frame

    for points in detector.detect_frames(handed(frames), source=source, on_missing="skip"):
        frame = waiting.popleft()
        if points is not None:
            yield crop_face(frame, face_box(points), size)[0]
