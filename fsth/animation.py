"""Portrait + driving video -> talking head (`fsth animate`).

Driving landmarks are detected frame by frame, smoothed over time (the detector's tremble
out, see ``fsth.landmarks.smooth``), adapted to the portrait's face (see
``fsth.landmarks.adapt``), drawn as landmark images and rendered by the personalised
generator, batch by batch: the driving video is streamed, never held whole. The mp4 is
marked synthetic in its metadata.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from .io.crop import crop_face, face_box, smooth_boxes
from .io.video import probe, read_frames, write_video
from .landmarks.adapt import adapt_landmarks
from .landmarks.draw import draw_landmarks
from .landmarks.smooth import smooth_landmarks
from .metrics import detected_landmarks
from .render import render_continued

log = logging.getLogger(__name__)
BATCH = 32  # frames rendered and written together (a multiple of Person.render's batch of 16)


def driving_landmarks(frames, detector, source: str = "driving video") -> np.ndarray:
    """(T, 68, 2) landmarks of a driving video; frames without a face reuse the last face."""
    return reuse_last_face(detected_landmarks(frames, detector, source), source)


def reuse_last_face(points: np.ndarray, source: str = "driving video") -> np.ndarray:
    """Detected landmarks (T, 68, 2), NaN rows where no face was found, each such row replaced
    by the last face before it (the first face for those before any) -> float32."""
    seen = np.isfinite(points).all(axis=(1, 2))
    if not seen.any():
        raise ValueError(f"{source}: no face in any frame")
    last = np.maximum.accumulate(np.where(seen, np.arange(len(points)), -1))  # the last face at or before each
    last[last < 0] = np.flatnonzero(seen)[0]
    if not seen.all():
        log.warning("%s: no face in %d of %d frames (the previous face was reused)", source, (~seen).sum(), len(points))
    return np.asarray(points, np.float32)[last]


def animate(person, driving: str | os.PathLike, out: str | os.PathLike, detector, adapt: str = "relative",
            reference: int | str = 0, side_by_side: bool = False, max_frames: int = 0,
            gif: str | os.PathLike | None = None, watermark: bool = False, smooth: str = "savgol",
            smooth_params: dict | None = None, keep_rendered: bool = True) -> dict:
    """Render ``person`` following ``driving``; writes ``out`` (mp4) and optionally a gif.

    The driving video is streamed, never held whole: its landmarks are detected frame by frame,
    then frames are rendered and written :data:`BATCH` at a time (a gif's frames wait on disk).
    side_by_side: each frame shows driving face | landmark image | result (the driving video is
    read a second time for its faces).
    watermark: mark the written frames in their pixels too, a visible "SYNTHETIC · fsth"
    label and an invisible mark that survives light re-encoding (``fsth.provenance``).
    smooth: how the detected driving landmarks are smoothed over time before adaptation,
    "savgol" (the whole clip is known: no lag), "one-euro" (past frames only, as live) or
    "none" (as detected); smooth_params: that filter's parameters
    (``min_cutoff``, ``beta``, ``d_cutoff`` or ``window``, ``order``; see
    ``fsth.landmarks.smooth.smooth_landmarks``), its defaults where left out.
    Returns the portrait's landmarks used (``landmarks``), the driving landmarks as detected
    (``detected_landmarks``) and as smoothed (``driving_landmarks``, what drove), the
    generator's frames (``rendered``, unmarked; None unless ``keep_rendered``: they grow with
    the video) and where the files went.
    """
    info = probe(driving)
    indices = range(min(info.frames, max_frames) if max_frames else info.frames)
    detected = driving_landmarks(read_frames(driving, indices), detector, str(driving))
    drive = smooth_landmarks(detected, smooth, fps=info.fps, **(smooth_params or {}))
    targets = adapt_landmarks(drive, person.landmarks[0], mode=adapt, reference=reference)
    boxes = smooth_boxes(face_box(detected), sigma=0.3 * info.fps) if side_by_side else None
    kept: list[np.ndarray] | None = [] if keep_rendered else None
    gif_frames = FrameSpool() if gif else None

    def panels():
        made = _panels(person, targets, read_frames(driving, indices) if side_by_side else None, boxes,
                       watermark, kept)
        for i, panel in enumerate(made):
            if gif_frames is not None and i % 2 == 0:
                gif_frames.add(panel)
            yield panel

    written = [write_video(out, panels(), fps=info.fps, synthetic=True)]
    if gif:
        with gif_frames:
            written.append(write_video(gif, gif_frames, fps=info.fps / 2, synthetic=True))
    return {"frames": len(targets), "landmarks": targets, "driving_landmarks": drive,
            "detected_landmarks": detected, "rendered": np.concatenate(kept) if keep_rendered else None,
            "files": [Path(p) for p in written]}


class FrameSpool:
    """Frames parked in a temp file until they are written again (a gif's, which Pillow needs all
    of at the end): memory stays flat however long the video. Iterate to read them back in order."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self._shape: tuple[int, ...] | None = None
        self._count = 0

    def add(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if self._shape is None:
            self._shape = frame.shape
        elif frame.shape != self._shape:
            raise ValueError(f"frame {self._count} is {frame.shape}, the first was {self._shape}")
        self._file.write(frame.tobytes())
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        self._file.flush()
        self._file.seek(0)
        size = int(np.prod(self._shape)) if self._shape else 0
        for _ in range(self._count):
            yield np.frombuffer(self._file.read(size), np.uint8).reshape(self._shape)

    def __enter__(self) -> "FrameSpool":
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()


def _panels(person, targets: np.ndarray, frames, boxes, watermark: bool, kept: list | None):
    """Yield the frames to write, made :data:`BATCH` at a time: rendered (collected into ``kept``
    unless it is None), beside the driving face (from ``frames``, cut by ``boxes``) and the landmark
    image when ``frames`` is given, and watermarked if asked."""
    size = person.size
    for start in range(0, len(targets), BATCH):
        chunk = targets[start:start + BATCH]
        rendered = render_continued(person, chunk) if start else person.render(chunk)
        if kept is not None:
            kept.append(rendered)
        panels = rendered
        if frames is not None:
            crops = [crop_face(next(frames), box, size)[0] for box in boxes[start:start + BATCH]]
            panels = np.stack([np.concatenate([c, draw_landmarks(t, size), r], axis=1)
                               for c, t, r in zip(crops, chunk, rendered)])
        if watermark:
            from .provenance import watermark as mark

            panels = mark(panels)
        yield from panels
