"""The visible "SYNTHETIC" label on every live frame, drawn once and stamped after.

``fsth.provenance.label`` draws the corner label with Pillow, about a millisecond a frame. Its
drawing is a fixed translucent box and text over the frame, so every labelled pixel is an
affine function of the pixel under it: ``out = a * frame + b``. :class:`LabelStamp` draws the
label once over black and once over white to read ``a`` and ``b`` off, then stamps each frame
with one multiply-add over the label's corner (within one grey level of Pillow's drawing).
"""
from __future__ import annotations

import numpy as np

from ..provenance import LABEL, label


class LabelStamp:
    """``fsth.provenance.label`` for frames of one size, precomputed (see the module's docstring).

        stamp = LabelStamp(256)
        labelled = stamp(frame)       # uint8 (256, 256, 3), a new array"""

    def __init__(self, size: int, text: str = LABEL):
        self.size = int(size)
        black = label(np.zeros((self.size, self.size, 3), np.uint8), text).astype(np.float32)
        white = label(np.full((self.size, self.size, 3), 255, np.uint8), text).astype(np.float32)
        changed = np.nonzero((black != 0).any(-1) | (white != 255).any(-1))
        if not len(changed[0]):
            raise ValueError(f"the label {text!r} leaves a {size} px frame unchanged")
        self.rows = slice(int(changed[0].min()), int(changed[0].max()) + 1)
        self.cols = slice(int(changed[1].min()), int(changed[1].max()) + 1)
        b = black[self.rows, self.cols]
        self.scale = (white[self.rows, self.cols] - b) / 255.0  # a: how much of the frame shows through
        self.offset = b + 0.5  # b, plus a half for rounding

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """A labelled copy of ``frame`` uint8 (size, size, 3)."""
        if frame.shape != (self.size, self.size, 3):
            raise ValueError(f"the stamp is for ({self.size}, {self.size}, 3) frames, got {frame.shape}")
        out = frame.copy()
        corner = frame[self.rows, self.cols]
        out[self.rows, self.cols] = np.clip(corner * self.scale + self.offset, 0, 255).astype(np.uint8)
        return out

    def visible_in(self, frame: np.ndarray, contrast: float = 80.0) -> bool:
        """Whether ``frame`` (uint8 (size, size, 3)) shows the label, even after lossy compression:
        the label's letters (the pixels it paints over whatever was there) are bright, and at least
        ``contrast`` grey levels brighter than the darkened box around them."""
        corner = np.asarray(frame)[self.rows, self.cols].astype(np.float32)
        letters = self.scale.max(-1) < 0.1
        box = (self.scale.min(-1) > 0.2) & (self.scale.max(-1) < 0.5)
        if not letters.any() or not box.any():
            raise ValueError("this label has no opaque letters on a translucent box to look for")
        return bool(corner[letters].mean() > 200 and corner[letters].mean() > corner[box].mean() + contrast)
