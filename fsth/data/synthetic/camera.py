"""A pinhole camera that frames a synthetic head the way ``fsth preprocess`` crops a real one."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...io.crop import face_box
from ..preprocess import Settings

CROP_MARGIN = Settings.margin  # frame heads like the crops of ``fsth preprocess`` with its defaults


@dataclass(frozen=True)
class Camera:
    """Perspective projection in OpenCV axes (x right, y down, z forward), output pixels.

    Pixel centres are at integers: the image spans [-0.5, size - 0.5] on both axes.
    """
    focal: float  # pixels
    cx: float
    cy: float

    def project(self, points: np.ndarray) -> np.ndarray:
        """Camera-space points (..., 3) -> pixels (..., 2)."""
        return self.focal * points[..., :2] / points[..., 2:] + [self.cx, self.cy]

    def rays(self, size: int) -> np.ndarray:
        """Directions (size * size, 3) through every pixel centre, row by row, with z = 1."""
        v, u = np.mgrid[:size, :size].reshape(2, -1).astype(np.float64)
        return np.stack([(u - self.cx) / self.focal, (v - self.cy) / self.focal, np.ones_like(u)], axis=1)


def framing_camera(landmarks: np.ndarray, size: int, margin: float = CROP_MARGIN, zoom: float = 1.0,
                   shift=(0.0, 0.0)) -> Camera:
    """The camera whose image is the crop ``fsth preprocess`` would cut around these landmarks.

    landmarks: (68, 3) camera-space points of the head at rest. The crop box is
    :func:`fsth.io.crop.face_box` of their projection; ``zoom`` > 1 magnifies it and
    ``shift`` moves it by a fraction of its side (small jitter between clips, as real detectors give).
    """
    normalised = landmarks[:, :2] / landmarks[:, 2:]  # projection with focal 1, centre 0
    x0, y0, side = (float(v) for v in face_box(normalised, margin=margin))
    crop = side / zoom
    x0 += (side - crop) / 2 + shift[0] * crop
    y0 += (side - crop) / 2 + shift[1] * crop
    focal = size / crop
    return Camera(focal=float(focal), cx=float(-x0 * focal - 0.5), cy=float(-y0 * focal - 0.5))
