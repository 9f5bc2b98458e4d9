"""Real and fake face crops for detection studies, split by identity, encoded alike.

A :class:`FaceSet` holds same-size uint8 crops with a label (1 = fake), the identity and
video they come from, the setting that made them ("real", "ft-k8", "puppet-relative"
...) and the group they are split by (an identity together with the identity that drove
its puppet fakes: the two always land in the same split). Real and fake pass through the same encoding (JPEG or H.264 at one setting) so a
detector can't learn the file format instead of the forgery.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from fsth.io import atomic_write


@dataclass
class FaceSet:
    images: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray  # (N,) int: 1 fake, 0 real
    identities: np.ndarray  # (N,) str
    videos: np.ndarray  # (N,) str
    settings: np.ndarray  # (N,) str
    groups: np.ndarray | None = None  # (N,) str: the unit of splitting and resampling (default: identities)

    def __post_init__(self):
        n = len(self.images)
        if self.groups is None:
            self.groups = self.identities
        for f in fields(self):
            value = np.asarray(getattr(self, f.name))
            if len(value) != n:
                raise ValueError(f"FaceSet.{f.name} has {len(value)} entries for {n} images")
            setattr(self, f.name, value)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, mask) -> "FaceSet":
        return FaceSet(*(getattr(self, f.name)[mask] for f in fields(self)))

    def with_images(self, images: np.ndarray) -> "FaceSet":
        return FaceSet(images, self.labels, self.identities, self.videos, self.settings, self.groups)

    @staticmethod
    def concat(sets: list["FaceSet"]) -> "FaceSet":
        return FaceSet(*(np.concatenate([getattr(s, f.name) for s in sets]) for f in fields(FaceSet)))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_write(path) as f:
            np.savez_compressed(f, images=self.images, labels=self.labels,
                                meta=np.frombuffer(json.dumps({k: getattr(self, k).tolist() for k in
                                                               ("identities", "videos", "settings", "groups")}).encode(), np.uint8))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FaceSet":
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            return cls(data["images"], data["labels"], meta["identities"], meta["videos"], meta["settings"],
                       meta.get("groups"))


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of uint8 RGB images at ``quality`` (1-100)."""
    out = []
    for image in images:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        out.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return np.stack(out)


def h264(images: np.ndarray, videos: np.ndarray, crf: int) -> np.ndarray:
    """H.264 round trip at ``crf`` (in memory): each video's frames are one stream."""
    import io

    import av

    out = images.copy()
    for video in np.unique(videos):
        idx = np.flatnonzero(videos == video)
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height = images.shape[2], images.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "fast"}
            for frame in images[idx]:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        buffer.seek(0)
        with av.open(buffer, "r") as reader:
            decoded = [f.to_ndarray(format="rgb24") for f in reader.decode(video=0)]
        out[idx] = np.stack(decoded)[: len(idx)]
    return out


def encode(faces: FaceSet, codec: str = "jpeg", quality: int = 95) -> FaceSet:
    """The same encoding for every image: ``jpeg`` at quality 1-100, ``h264`` at a CRF, or
    ``none``."""
    if codec == "none":
        return faces
    if codec == "jpeg":
        return faces.with_images(jpeg(faces.images, quality))
    if codec == "h264":
        return faces.with_images(h264(faces.images, faces.videos, quality))
    raise ValueError(f"unknown codec {codec!r}: jpeg, h264 or none")


def resize(faces: FaceSet, size: int) -> FaceSet:
    """Down- and back up-scale (a platform re-sizing an upload); same size out."""
    s = faces.images.shape[1]
    small = [cv2.resize(i, (size, size), interpolation=cv2.INTER_AREA) for i in faces.images]
    return faces.with_images(np.stack([cv2.resize(i, (s, s), interpolation=cv2.INTER_LINEAR) for i in small]))


def split_by_identity(faces: FaceSet, fractions=(0.6, 0.2, 0.2), seed: int = 0) -> dict[str, FaceSet]:
    """Identity-disjoint train/val/test splits (no person in two splits)."""
    people = np.unique(faces.identities)
    if len(people) < 3:
        raise ValueError(f"need at least 3 identities to split, got {len(people)}")
    people = np.random.default_rng(seed).permutation(people)
    cuts = np.round(np.cumsum(fractions)[:-1] / np.sum(fractions) * len(people)).astype(int)
    cuts = np.clip(cuts, 1, len(people) - 1)
    groups = np.split(people, cuts)
    splits = {name: faces.subset(np.isin(faces.identities, g)) for name, g in zip(("train", "val", "test"), groups)}
    assert_identity_disjoint(splits)
    return splits


def assert_identity_disjoint(splits: dict[str, FaceSet]) -> None:
    """Fail if any identity appears in two splits (a leak inflates every metric)."""
    seen: dict[str, str] = {}
    for name, faces in splits.items():
        for person in np.unique(faces.identities):
            if person in seen:
                raise AssertionError(f"identity {person!r} leaks between splits {seen[person]!r} and {name!r}")
            seen[person] = name
