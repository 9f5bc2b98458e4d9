"""Scoring media with a saved detector, the way the study scored its test faces.

Faces are cropped like ``fsth preprocess`` (dlib), resized to the detector's size and passed
through the study's one JPEG q95 step before P(fake) is computed: a score is only
comparable to the report's numbers if the input was processed the same way. (The study's faces,
real and fake, were also written as H.264 by fsth's video writer; media scored here went through
whatever encoder made it, and the detectors were trained with H.264, JPEG and resizing of both
classes so that this difference does not decide the score. The no-generator control in the
report measures how far that holds.)
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from .data import jpeg

BATCH = 32  # frames read, cropped and scored together: memory stays flat however long the video


def iter_media(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Frames of a video, an image, or a folder of images, uint8 RGB (H, W, 3), one at a time (a
    video is never held whole); ``max_frames``: at most this many, spread evenly (None: all).
    Errors name the path: missing, empty folder, or a file that is neither image nor video."""
    from fsth.io.images import IMAGE_EXTENSIONS, read_image
    from fsth.io.video import is_video, probe, read_frames

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir() and not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir() if p.is_file()):
        raise ValueError(f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    try:
        if path.is_dir() or is_video(path):
            yield from read_frames(path, spread(probe(path).frames, max_frames) if max_frames else None)
        else:
            yield read_image(path)
    except (OSError, ValueError, RuntimeError) as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: not a readable image or video ({' '.join(str(err).split())[:200]})") from None


def media_files(folder: str | os.PathLike) -> list[Path]:
    """The images and videos directly in ``folder``, sorted (``fsth detect score DIR`` scores each
    on its own); ValueError naming the folder if it holds none."""
    from fsth.io.images import IMAGE_EXTENSIONS
    from fsth.io.video import VIDEO_EXTENSIONS

    folder = Path(folder)
    known = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in known)
    if not files:
        raise ValueError(f"{folder}: the folder holds no images or videos ({', '.join(sorted(known))})")
    return files


def read_media(path: str | os.PathLike, max_frames: int | None = None) -> list[np.ndarray]:
    """:func:`iter_media` as a list: for images and short clips only."""
    return list(iter_media(path, max_frames))


def spread(count: int, most: int) -> range:
    """At most ``most`` of ``count`` frame indices, evenly spaced from the first."""
    return range(0, count, max(1, count // most))[:most]


def batches(items: Iterable, size: int) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last one shorter), pulled one list at a time."""
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk


def detector_size(det, default: int = 64) -> int:
    return int(getattr(det, "image_size", default))


def score_faces(det, crops: np.ndarray, kind: str = "video") -> dict:
    """P(fake) of face crops already at the detector's size (the study's JPEG q95 applied):
    {"p_fake": mean, "flagged": share above the detector's threshold for ``kind`` ("video" frames
    or a "photo": :func:`detector.models.threshold_for`), "frames", "scores", "threshold"}."""
    return summary(det, p_fake(det, crops), kind)


def p_fake(det, crops: np.ndarray) -> np.ndarray:
    """The detector's P(fake) of each face crop, after the study's JPEG q95."""
    scores = det.predict_proba(jpeg(np.asarray(crops), 95))
    if not np.isfinite(scores).all():
        raise ValueError("the detector gives P(fake) = nan: the detector file is damaged")
    return scores


def summary(det, scores: np.ndarray, kind: str = "video") -> dict:
    from .models import threshold_for

    threshold = threshold_for(det, kind)
    return {"p_fake": float(scores.mean()), "flagged": float((scores > threshold).mean()),
            "frames": int(len(scores)), "scores": scores, "threshold": threshold, "kind": kind}


def score_media(det, path: str | os.PathLike, face_detector=None, max_frames: int | None = None,
                batch: int = BATCH) -> dict:
    """:func:`score_faces` of the largest face in each frame of an image, video or folder, streamed:
    read, cropped and scored ``batch`` frames at a time. ``max_frames``: at most this many frames,
    spread evenly over the video (None or 0: all)."""
    from .faces import iter_face_crops

    from fsth.io.video import is_video

    crops = iter_face_crops(iter_media(path, max_frames), detector_size(det), str(path), face_detector)
    scores = [p_fake(det, np.stack(chunk)) for chunk in batches(crops, batch)]
    if not scores:
        raise ValueError(f"{path}: no face found to score")
    still = Path(path).is_file() and not is_video(path)  # a photo; a video, an animation or a folder of frames: video
    return summary(det, np.concatenate(scores), "photo" if still else "video")


def describe(det) -> str:
    """The operating point and training domain of a detector, for printing next to its scores."""
    domain = det.domain or "not recorded (a detector file from before the study recorded it)"
    photo = getattr(det, "photo_threshold", None)
    both = (f"thresholds {det.threshold:.3g} for video frames, {photo:.3g} for photos" if photo is not None
            else f"threshold {det.threshold:.3g}")
    return f"{both} (fitted on validation identities); trained on: {domain}"


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
           "portrait (real)": score_faces(det, resized(portrait_crop, size), "photo")}
    out = {k: {"p_fake": v["p_fake"], "flagged": v["flagged"], "frames": v["frames"]} for k, v in out.items()}
    from .models import threshold_for

    return {**out, "threshold": det.threshold, "photo_threshold": threshold_for(det, "photo"),
            "domain": det.domain or "not recorded"}


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
