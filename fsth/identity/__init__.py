"""Who is this? dlib's face-recognition network in PyTorch: an offline identity metric and loss.

    encoder = IdentityEncoder()
    d = encoder.embed(frames, landmarks)            # (B, 128), differentiable in the frames
    verified(d, encoder.embed(shots, shot_landmarks).mean(0, keepdim=True))   # share judged the same person

dlib's descriptors are compared by Euclidean distance: below 0.6 means "same person" in
dlib's verification (99.4 % on LFW). That threshold makes an honest metric: the cosine
similarity of these descriptors is high for any two faces.
"""
from __future__ import annotations

import numpy as np
import torch

from .align import chip_corners, face_chips
from .dlib_format import DlibFormatError, read_layers
from .facenet import CHIP_SIZE, SAME_PERSON, DlibFaceNet, dlib_face_net, load_dlib_weights

__all__ = ["IdentityEncoder", "distance", "verified", "identity_loss", "DlibFaceNet", "DlibFormatError",
           "SAME_PERSON", "read_layers", "load_dlib_weights", "face_chips", "chip_corners"]


class IdentityEncoder:
    """128-d dlib descriptors of faces, batched on any device.

    ``embed`` takes fsth image tensors (B, 3, H, W) in [-1, 1] and landmarks (B, 68, 2) in
    their pixels and is differentiable (a loss); ``embed_photos`` takes uint8 photos and uses
    dlib's own chip extraction, so its descriptors equal dlib's (a metric)."""

    def __init__(self, device: str | torch.device = "cpu", model_path: str | None = None):
        self.device = torch.device(device)
        self.net = dlib_face_net(model_path).to(self.device)

    def embed(self, images: torch.Tensor, landmarks) -> torch.Tensor:
        chips = face_chips(images.to(self.device), np.asarray(landmarks, np.float32))
        return self.net(chips)

    @torch.no_grad()
    def embed_photos(self, photos, landmarks, batch: int = 32) -> np.ndarray:
        """uint8 (H, W, 3) photos (a list or an array) and their (68, 2) landmarks → (N, 128)."""
        import dlib

        chips = []
        for photo, points in zip(photos, np.asarray(landmarks, np.float64)):
            x0, y0 = points.min(0)
            x1, y1 = points.max(0)
            shape = dlib.full_object_detection(
                dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))),
                [dlib.point(int(round(x)), int(round(y))) for x, y in points])
            chips.append(dlib.get_face_chip(np.ascontiguousarray(photo), shape, CHIP_SIZE, 0.25))
        if not chips:
            return np.zeros((0, 128), np.float32)
        stacked = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float()
        out = [self.net(stacked[i:i + batch].to(self.device)).cpu() for i in range(0, len(stacked), batch)]
        return torch.cat(out).numpy()


def distance(a, b):
    """Euclidean distance between descriptors (broadcasting: (N, 128) vs (1, 128))."""
    if isinstance(a, torch.Tensor):
        return (a - b).norm(dim=-1)
    return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)


def verified(descriptors, reference, threshold: float = SAME_PERSON) -> float:
    """Share of ``descriptors`` that dlib would call the same person as ``reference``."""
    d = distance(descriptors, reference)
    return float((d < threshold).float().mean() if isinstance(d, torch.Tensor) else (d < threshold).mean())


def identity_loss(encoder: IdentityEncoder, fake: torch.Tensor, target: torch.Tensor, landmarks) -> torch.Tensor:
    """Mean descriptor distance between generated and real frames (the role of VGGFace in the
    paper's content loss); gradients reach ``fake`` only."""
    with torch.no_grad():
        wanted = encoder.embed(target, landmarks)
    return distance(encoder.embed(fake.float(), landmarks), wanted).mean()
