"""Portrait + driving video -> talking head (`fsth animate`).

Driving landmarks are detected frame by frame, smoothed over time (the detector's tremble
out, see ``fsth.landmarks.smooth``), adapted to the portrait's face (see
``fsth.landmarks.adapt``), drawn as landmark images and rendered by the personalised
generator. The mp4 is marked synthetic in its metadata.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .io.crop import crop_face, face_box, smooth_boxes
from .io.video import probe, read_frames, write_video
from .landmarks.adapt import adapt_landmarks
from .landmarks.draw import draw_landmarks
from .landmarks.smooth import smooth_landmarks

log = logging.getLogger(__name__)


def driving_landmarks(frames, detector, source: str = "driving video") -> np.ndarray:
    """(T, 68, 2) landmarks of a driving video; frames without a face reuse the last face."""
    points, last, missing = [], None, 0
    for found in detector.detect_frames(frames, source=source, on_missing="skip"):
        if found is None:
            missing += 1
            found = last
        points.append(found)
        last = found if found is not None else last
    first = next((i for i, p in enumerate(points) if p is not None), None)
    if first is None:
        raise ValueError(f"{source}: no face in any frame")
    points[:first] = [points[first]] * first
    if missing:
        log.warning("%s: no face in %d of %d frames (the previous face was reused)", source, missing, len(points))
    return np.stack(points).astype(np.float32)


def animate(person, driving: str | os.PathLike, out: str | os.PathLike, detector, adapt: str = "relative",
            reference: int | str = 0, side_by_side: bool = False, max_frames: int = 0,
            gif: str | os.PathLike | None = None, watermark: bool = False, smooth: str = "savgol",
            smooth_params: dict | None = None) -> dict:
    """Render ``person`` following ``driving``; writes ``out`` (mp4) and optionally a gif.

    side_by_side: each frame shows driving face | landmark image | result.
    watermark: mark the written frames in their pixels too, a visible "SYNTHETIC · fsth"
    label and an invisible mark that survives light re-encoding (``fsth.provenance``).
    smooth: how the detected driving landmarks are smoothed over time before adaptation,
    "savgol" (the whole clip is known: no lag), "one-euro" (past frames only, as live) or
    "none" (as detected); smooth_params: that filter's parameters
    (``min_cutoff``, ``beta``, ``d_cutoff`` or ``window``, ``order``; see
    ``fsth.landmarks.smooth.smooth_landmarks``), its defaults where left out.
    Returns the portrait's landmarks used (``landmarks``), the driving landmarks as detected
    (``detected_landmarks``) and as smoothed (``driving_landmarks``, what drove), the
    generator's frames (``rendered``, unmarked) and where the files went.
    """
    info = probe(driving)
    indices = range(min(info.frames, max_frames) if max_frames else info.frames)
    frames = list(read_frames(driving, indices))
    detected = driving_landmarks(frames, detector, str(driving))
    drive = smooth_landmarks(detected, smooth, fps=info.fps, **(smooth_params or {}))
    portrait = person.landmarks[0]
    targets = adapt_landmarks(drive, portrait, mode=adapt, reference=reference)
    rendered = person.render(targets)
    size = person.size
    if side_by_side:
        boxes = smooth_boxes(face_box(detected), sigma=0.3 * info.fps)
        crops = [crop_face(f, b, size)[0] for f, b in zip(frames, boxes)]
        panels = [np.concatenate([c, draw_landmarks(t, size), r], axis=1)
                  for c, t, r in zip(crops, targets, rendered)]
    else:
        panels = list(rendered)
    if watermark:
        from .provenance import watermark as mark

        panels = list(mark(np.stack(panels)))
    written = [write_video(out, panels, fps=info.fps, synthetic=True)]
    if gif:
        written.append(write_video(gif, panels[::2], fps=info.fps / 2, synthetic=True))
    return {"frames": len(panels), "landmarks": targets, "driving_landmarks": drive,
            "detected_landmarks": detected, "rendered": rendered, "files": [Path(p) for p in written]}
