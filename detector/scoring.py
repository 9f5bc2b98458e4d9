"""Scoring media with a saved detector, the way the study scored its test faces.

Faces are cropped like ``fsth preprocess`` (dlib), resized to the detector's size and passed
through the study's one JPEG q95 step before P(fake) is computed: a score is only
comparable to the report's numbers if the input was processed the same way.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data import jpeg


def read_media(path: str | os.PathLike) -> list[np.ndarray]:
    """Frames of a video, an image, or a folder of images: uint8 RGB (H, W, 3) each.
    Errors name the path: missing, empty folder, or a file that is neither image nor video."""
    from fsth.io.images import IMAGE_EXTENSIONS, read_image
    from fsth.io.video import is_video, read_frames

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir() if p.is_file()):
            raise ValueError(f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        return list(read_frames(path))
    try:
        return list(read_frames(path)) if is_video(path) else [read_image(path)]
    except (OSError, ValueError, RuntimeError) as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: not a readable image or video ({' '.join(str(err).split())[:200]})") from None


def detector_size(det, default: int = 64) -> int:
    return int(getattr(det, "image_size", default))


def score_faces(det, crops: np.ndarray) -> dict:
    """P(fake) of face crops already at the detector's size (the study's JPEG q95 applied):
    {"p_fake": mean, "flagged": share above the detector's threshold, "frames", "scores"}."""
    scores = det.predict_proba(jpeg(np.asarray(crops), 95))
    if not np.isfinite(scores).all():
        raise ValueError("the detector gives P(fake) = nan: the detector file is damaged")
    return {"p_fake": float(scores.mean()), "flagged": float((scores > det.threshold).mean()),
            "frames": int(len(scores)), "scores": scores}


def score_media(det, path: str | os.PathLike, face_detector=None, max_frames: int = 0) -> dict:
    """:func:`score_faces` of the largest face in each frame of an image, video or folder."""
    from .faces import face_crops

    frames = read_media(path)
    if max_frames:
        frames = frames[:: max(1, len(frames) // max_frames)][:max_frames]
    return score_faces(det, face_crops(frames, detector_size(det), str(path), face_detector))


def describe(det) -> str:
    """The operating point and training domain of a detector, for printing next to its scores."""
    domain = det.domain or "not recorded (a detector file from before the study recorded it)"
    return f"threshold {det.threshold:.3g} (fitted on validation identities); trained on: {domain}"


def line(name: str, result: dict, threshold: float) -> str:
    return (f"{name}: P(fake) = {result['p_fake']:.3f} (mean over {result['frames']} frame(s); "
            f"{result['flagged']:.0%} above the threshold {threshold:.3g})")


def side_by_side_scores(det, rendered, portrait_crop, driving, frames: int, face_detector, samples: int = 24) -> dict:
    """One detector's P(fake) of the demo's fake next to its P(fake) of the real inputs: the
    driving video's own faces (cropped the same way) and the real portrait crop (the shot).
    A score means little on its own: if the real faces score as high, the detector is not
    seeing the forgery (see docs/detector/report.md and the detector's training domain)."""
    from fsth.io.video import read_frames

    from .faces import face_crops

    pick = np.unique(np.linspace(0, frames - 1, min(samples, frames)).round().astype(int))
    real = face_crops(list(read_frames(driving, pick)), detector_size(det), str(driving), face_detector)
    size = detector_size(det)
    out = {"fake (this demo)": score_faces(det, resized(rendered, size)), "driving video (real)": score_faces(det, real),
           "portrait (real)": score_faces(det, resized(portrait_crop, size))}
    out = {k: {"p_fake": v["p_fake"], "flagged": v["flagged"], "frames": v["frames"]} for k, v in out.items()}
    return {**out, "threshold": det.threshold, "domain": det.domain or "not recorded"}


def resized(crops: np.ndarray, size: int) -> np.ndarray:
    """Square face crops (T, R, R, 3) at the detector's size (area interpolation when shrinking)."""
    import cv2

    crops = np.asarray(crops)
    if crops.shape[1] == size:
        return crops
    method = cv2.INTER_AREA if crops.shape[1] > size else cv2.INTER_CUBIC
    return np.stack([cv2.resize(c, (size, size), interpolation=method) for c in crops])


def score_demo(rendered, portrait_crop, driving, frames: int, face_detector) -> dict:
    """``fsth demo``'s scorer (the ``fsth.scorers`` entry point): every shipped detector's
    :func:`side_by_side_scores`, by detector name."""
    from fsth import SHIPPED_DETECTORS, pretrained_path

    from .models import load

    scores = {}
    for file in SHIPPED_DETECTORS.values():
        try:
            det = load(pretrained_path(file))
        except FileNotFoundError:
            continue
        scores[det.name] = side_by_side_scores(det, rendered, portrait_crop, driving, frames, face_detector)
    return scores
