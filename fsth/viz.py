"""Pictures people would rather look at than read: contact sheets of clips and landmarks."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .io.atomic import save_figure
from .io.clips import ClipError, SkippedClips, load_clip, read_meta
from .landmarks.draw import draw_landmarks, overlay_landmarks


def clip_row(path: str | os.PathLike, frames: int = 3, size: int = 128, overlay: bool = False) -> np.ndarray:
    """One row for a clip: ``frames`` evenly spaced frames, each followed by its landmark image.

    overlay: draw the landmarks on the frame too (to check they sit on the face).
    Raises ClipError (naming the file) for a corrupt clip.
    """
    total = read_meta(path)["num_frames"]
    indices = np.unique(np.linspace(0, total - 1, frames).round().astype(int))
    clip = load_clip(path, indices)
    scale = size / clip.frames.shape[1]
    tiles = []
    for frame, points in zip(clip.frames, clip.landmarks):
        frame = np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.LANCZOS))
        points = (points + 0.5) * scale - 0.5
        tiles += [overlay_landmarks(frame, points) if overlay else frame, draw_landmarks(points, size)]
    while len(tiles) < 2 * frames:  # clips shorter than ``frames``
        tiles.append(np.zeros((size, size, 3), np.uint8))
    return np.concatenate(tiles, axis=1)


def contact_sheet(paths: Sequence[str | os.PathLike], frames: int = 3, size: int = 128,
                  overlay: bool = False, label: bool = True, skipped: SkippedClips | None = None) -> np.ndarray:
    """Stack :func:`clip_row` for each clip, each labelled with its identity.

    A corrupt clip gets no row: it is logged once and recorded in ``skipped`` (if given).
    """
    skipped = SkippedClips() if skipped is None else skipped
    rows = []
    for path in paths:
        try:
            row = clip_row(path, frames, size, overlay)
        except ClipError as err:
            skipped.add(path, err)
            continue
        if label:
            im = Image.fromarray(row)
            meta = read_meta(path)
            ImageDraw.Draw(im).text((4, 2), f"{meta.get('identity', Path(path).stem)}", fill=(255, 255, 0))
            row = np.asarray(im)
        rows.append(row)
    if not rows:
        raise ValueError("no readable clips to show" + (f" ({skipped.summary()})" if skipped else ""))
    return np.concatenate(rows, axis=0)


def plot_losses(metrics_csv: str | os.PathLike, out: str | os.PathLike, smooth: int = 20) -> Path:
    """Loss curves from a run's metrics.csv (one panel per loss term, moving average), saved as PNG.

    Draws on a bare ``matplotlib.figure.Figure`` so it never switches the pyplot backend:
    a notebook that trains and then plots inline keeps working.
    """
    import csv

    from matplotlib.figure import Figure

    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{metrics_csv}: no logged steps yet")
    skip = {"step", "seconds", "step_seconds"}
    keys = [k for k in rows[0] if k not in skip]
    steps = np.array([int(r["step"]) for r in rows])
    cols = max(1, min(3, len(keys)))
    nrows = max(1, (len(keys) + cols - 1) // cols)
    fig = Figure(figsize=(4 * cols, 2.6 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        values = np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows])
        ax.plot(steps, values, alpha=0.3, color="tab:blue")
        if len(values) >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(steps[smooth - 1:], np.convolve(values, kernel, mode="valid"), color="tab:blue")
        ax.set_title(key)
        ax.set_xlabel("step")
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)
