"""Face crops of arbitrary media, the way fsth's clips are cropped (for scoring)."""
from __future__ import annotations

import numpy as np


def face_crops(frames: list[np.ndarray], size: int, source: str = "input", detector=None) -> np.ndarray:
    """Square crops (fsth.io.crop.CROP_MARGIN, like ``fsth preprocess``) of the largest face per frame;
    frames without a face are skipped. Returns (N, size, size, 3)."""
    from fsth.io.crop import crop_face, face_box
    from fsth.landmarks import create_detector

    detector = detector or create_detector("dlib")
    crops = [crop_face(frame, face_box(points), size)[0]
             for frame, points in zip(frames, detector.detect_frames(frames, source=source, on_missing="skip"))
             if points is not None]
    if not crops:
        raise ValueError(f"{source}: no face found to score")
    return np.stack(crops)
