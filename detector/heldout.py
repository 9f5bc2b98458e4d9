"""A shipped detector's own figures on real faces it never saw: photos and a video no detector
trains, calibrates or is chosen on (``fsth.data.samples``, ``heldout=True``).

Each detector is judged by its **own threshold**, the way ``fsth detect score`` judges media:

- *photos*: every held-out portrait at three source scales (0.5, 1, 2 — a phone photo, a web
  thumbnail, an upscaled one), its largest face cropped at the detector's size; the share
  called real.
- *video*: a real talking-face video, face-cropped like ``fsth preprocess`` at 64 px and at
  256 px and written by fsth's own video writer (H.264, as ``fsth animate`` writes its fakes),
  then scored from the file like any upload; the share of frames called fake.

The acceptance line of the shipped detectors (:data:`PHOTOS_REAL`, :data:`VIDEO_FAKE`) is
printed beside each figure. ``python -m detector heldout --detector FILE`` runs it on any detector.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
PHOTOS_REAL = 0.80  # a shipped detector calls at least this share of unseen real photos real
VIDEO_FAKE = 0.20  # ... and at most this share of an unseen real video's frames fake
VIDEO_SIZES = (64, 256)  # the face-crop sides the real video is written at (fsth's fakes' sides)
SCALES = (0.5, 1.0, 2.0)
MAX_SIDE = 1600  # a scaled photo's longest side at most (larger scales are skipped)


def heldout_names(kind: str) -> list[str]:
    from fsth.data import samples

    return [n for n, s in samples.SAMPLES.items() if s.heldout and s.kind == kind]


def scaled_photos(name: str, scales=SCALES):
    """Sample photo ``name`` at each of ``scales`` whose longest side stays within
    :data:`MAX_SIDE` (a 5 Mpx photo doubled says nothing new, slowly): yields ("name x0.5", image)."""
    import cv2

    from fsth.data import samples
    from fsth.io.images import read_image

    image = read_image(samples.fetch(name))
    for scale in scales:
        if max(image.shape[:2]) * scale > MAX_SIDE:
            continue
        yield f"{name} x{scale:g}", cv2.resize(image, None, fx=scale, fy=scale,
                                               interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def photo_crops(size: int, names=None, face_detector=None) -> tuple[np.ndarray, list[str]]:
    """The held-out photos' largest faces at ``size`` px (each photo at :data:`SCALES`):
    uint8 (N, size, size, 3) and names ("feat_f1 x0.5"). Found once per size, names and face
    detector (judging several detectors finds the faces once)."""
    crops, labels = _photo_crops(size, tuple(names or heldout_names("image")), face_detector)
    return crops.copy(), list(labels)


@lru_cache(maxsize=4)
def _photo_crops(size: int, names: tuple[str, ...], face_detector) -> tuple[np.ndarray, tuple[str, ...]]:
    from .faces import face_crops

    crops, labels = [], []
    for name in names:
        for label, scaled in scaled_photos(name):
            try:
                crops.append(face_crops([scaled], size, label, face_detector)[0])
            except ValueError:  # no face at this scale (a 56 px thumbnail, say)
                log.info("held-out photos: no face in %s", label)
                continue
            labels.append(label)
    return np.stack(crops), tuple(labels)


def video_file(size: int, folder: str | Path, name: str | None = None, face_detector=None) -> Path:
    """The held-out real video face-cropped at ``size`` px and written by fsth's video writer
    (H.264, CRF 18, as fsth writes its fakes) into ``folder``; made once, then reused."""
    from fsth.data import samples
    from fsth.io.video import probe, read_frames, write_video

    from .faces import face_crops

    name = name or heldout_names("video")[0]
    path = Path(folder) / f"{name}-face{size}.mp4"
    if not path.exists():
        source = samples.fetch(name)
        crops = face_crops(read_frames(source), size, name, face_detector)
        write_video(path, crops, fps=float(probe(source).fps or 25))
    return path


def figures(det, folder: str | Path, face_detector=None) -> dict:
    """The detector's verdicts on the held-out real media (see the module's docstring):
    {"photos": {"n", "called_real", "names", "flagged"}, "video 64 px": {"frames", "called_fake"},
    ...} with ``passes`` against :data:`PHOTOS_REAL` and :data:`VIDEO_FAKE`."""
    from fsth.landmarks import create_detector

    from .models import threshold_for
    from .scoring import detector_size, p_fake, score_media

    face_detector = face_detector or create_detector("dlib")
    crops, names = photo_crops(detector_size(det), face_detector=face_detector)
    flagged = p_fake(det, crops) > threshold_for(det, "photo")
    out = {"photos": {"n": int(len(names)), "called_real": float(1 - flagged.mean()),
                      "flagged": [n for n, f in zip(names, flagged) if f]}}
    for size in VIDEO_SIZES:
        scored = score_media(det, video_file(size, folder, face_detector=face_detector), face_detector)
        out[f"video {size} px"] = {"frames": scored["frames"], "called_fake": scored["flagged"],
                                   "p_fake": scored["p_fake"]}
    out["passes"] = bool(out["photos"]["called_real"] >= PHOTOS_REAL
                         and all(out[f"video {s} px"]["called_fake"] <= VIDEO_FAKE for s in VIDEO_SIZES))
    return out


def lines(name: str, result: dict) -> list[str]:
    """The figures in words, one line each."""
    p = result["photos"]
    out = [f"{name}: unseen real photos called real {p['called_real']:.0%} of {p['n']} "
           f"(goal ≥ {PHOTOS_REAL:.0%})" + (f"; flagged: {', '.join(p['flagged'])}" if p["flagged"] else "")]
    for size in VIDEO_SIZES:
        v = result[f"video {size} px"]
        out.append(f"{name}: unseen real video, {size} px face crops written as fsth writes its fakes: "
                   f"{v['called_fake']:.0%} of {v['frames']} frames called fake (goal ≤ {VIDEO_FAKE:.0%})")
    return out
