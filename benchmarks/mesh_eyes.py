"""A second eye-closure instrument: eye opening read by MediaPipe's Face Mesh, not by dlib.

dlib's 68-point predictor leans on its shape prior around the eyes: on a painted face (the
Mona Lisa) it puts the lids where an open eye would have them, whatever the pixels show, and
even on real video it reads shut eyes at a quarter to a third of their open gap. Face Mesh
(478 points, lids refined by its attention model) reads them much closer to shut. Its model
ships inside ``mediapipe`` 0.10.14's wheel (later wheels ship no face models), which needs
numpy < 2, protobuf < 5 and opencv-contrib: so it lives in its own environment, and this file
is both sides of the bridge:

- run by that environment's Python, it measures: ``python mesh_eyes.py FRAMES.npz OUT.npy``
  (``frames`` uint8 (T, H, W, 3) in, each frame's eye opening (T,) out: the mean gap of three
  lid pairs per eye over the outer-eye-corner distance, NaN where it finds no face);
- imported (``benchmarks/portraits.py --mesh-python``), :func:`mesh_eye_opening` hands frames
  to it in a temporary folder and reads the answer back.

Set the environment up once (PyPI only, ~36 MB)::

    python -m venv .venv-mesh
    .venv-mesh/bin/pip install mediapipe==0.10.14 "numpy<2"
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# Face Mesh indices: (upper lid, lower lid) pairs across each eye, and the outer eye corners
LID_PAIRS = ((159, 145), (158, 153), (160, 144), (386, 374), (385, 380), (387, 373))
OUTER_CORNERS = (33, 263)


def measure(frames: np.ndarray) -> np.ndarray:
    """(T,) eye opening of each frame (uint8 (T, H, W, 3) RGB) by Face Mesh; NaN without a face.
    Every frame on its own (``static_image_mode``): no tracking carries one frame's answer over."""
    import mediapipe as mp  # only in the mesh environment

    out = np.full(len(frames), np.nan)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.3) as mesh:
        for i, frame in enumerate(frames):
            found = mesh.process(np.ascontiguousarray(frame))
            if not found.multi_face_landmarks:
                continue
            h, w = frame.shape[:2]
            p = np.array([[q.x * w, q.y * h] for q in found.multi_face_landmarks[0].landmark])
            scale = np.linalg.norm(p[OUTER_CORNERS[0]] - p[OUTER_CORNERS[1]])
            out[i] = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in LID_PAIRS]) / max(scale, 1e-6)
    return out


def mesh_eye_opening(frames: np.ndarray, python: str | Path, timeout: float = 1800) -> np.ndarray:
    """(T,) :func:`measure` of ``frames`` (uint8 (T, H, W, 3)), run by ``python`` — the mesh
    environment's interpreter — in a subprocess. Raises RuntimeError naming that interpreter
    when it fails or answers with the wrong number of frames."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    with tempfile.TemporaryDirectory(prefix="fsth-mesh-") as folder:
        given, answer = Path(folder) / "frames.npz", Path(folder) / "opening.npy"
        np.savez(given, frames=frames)
        try:
            done = subprocess.run([str(python), str(Path(__file__).resolve()), str(given), str(answer)],
                                  capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeError(f"the mesh instrument could not run with {python}: {error}") from error
        if done.returncode != 0 or not answer.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"the mesh instrument failed with {python} (exit {done.returncode}): "
                               + " | ".join(tail) + " — see benchmarks/mesh_eyes.py for its environment")
        opening = np.load(answer)
    if opening.shape != (len(frames),):
        raise RuntimeError(f"the mesh instrument at {python} answered {opening.shape} for {len(frames)} frames")
    return opening.astype(np.float64)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python mesh_eyes.py FRAMES.npz OUT.npy  (run by the mesh environment's Python)")
    with np.load(sys.argv[1]) as given:
        result = measure(given["frames"])
    np.save(sys.argv[2], result)
