"""Real and fake face crops for detection studies, split by identity, processed alike.

A :class:`FaceSet` holds same-size uint8 crops with a label (1 = fake), the identity and
video they come from, the setting that made them ("real", "ft-k8", "puppet-relative"
...) and the group they are split by (an identity together with the identity that drove
its puppet fakes: the two always land in the same split).

Real and fake pass through one :class:`Processing` (the path a fake takes out of fsth: made
at the generator's working resolution, shown at the output size, written as H.264 by
``fsth.io.video.write_video``), so a detector can't learn resolution, resampling or the
file format instead of the forgery; ``encode`` then applies one more encoding to every image.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from fractions import Fraction
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


def x264(images: np.ndarray, videos: np.ndarray, crf: int, preset: str = "fast", mbtree: bool = True) -> np.ndarray:
    """H.264 round trip in memory: each video's frames one libx264 stream (yuv420p, ``crf``,
    ``preset``, 25 fps; odd sides padded by edge replication and cropped back, as fsth's writer
    pads), decoded again.

    Reproducibility: x264's macroblock-tree rate control (``mbtree``, on in every preset but
    ultrafast, and in fsth's writer) gives slightly different bits from run to run on short
    streams like these (a few grey levels on some pixels); ``mbtree=False`` makes the output the
    same every time. One thread each way and a timestamp per frame, for the same reason."""
    import io

    import av

    height, width = images.shape[1:3]
    pad = ((0, 0), (0, height % 2), (0, width % 2), (0, 0))
    out = images.copy()
    for video in np.unique(videos):
        idx = np.flatnonzero(videos == video)
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, **({} if mbtree else {"x264-params": "mbtree=0"})}
            stream.codec_context.thread_count = 1
            for n, frame in enumerate(np.pad(images[idx], pad, mode="edge")):
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                picture.pts, picture.time_base = n, Fraction(1, 25)
                container.mux(stream.encode(picture))
            container.mux(stream.encode())
        buffer.seek(0)
        with av.open(buffer, "r") as reader:
            reader.streams.video[0].codec_context.thread_count = 1
            decoded = [f.to_ndarray(format="rgb24") for f in reader.decode(video=0)]
        out[idx] = np.stack(decoded)[: len(idx), :height, :width]
    return out


def h264(images: np.ndarray, videos: np.ndarray, crf: int) -> np.ndarray:
    """H.264 round trip at ``crf`` (:func:`x264`, preset ``fast``, no macroblock tree: the same
    output every time): each video's frames are one stream. For the compression matrix and the
    training augmentation."""
    return x264(images, videos, crf, "fast", mbtree=False)


FSTH_PRESET = "medium"  # fsth.io.video.write_video's x264 preset (its other settings: x264's defaults)


def written_like_fsth(images: np.ndarray, videos: np.ndarray, crf: int = 18) -> np.ndarray:
    """Each video as fsth writes its fakes (``fsth.io.video.write_video``: libx264, yuv420p, preset
    medium, ``crf``, odd sides padded; what ``fsth animate`` writes with) and read back, in memory
    (:func:`x264` with fsth's settings, macroblock tree included: like fsth's own files, the
    result varies by a few grey levels from run to run; the study makes its faces once and
    caches them). Frames in order per video; uint8 (N, H, W, 3) in and out."""
    return x264(images, videos, crf, FSTH_PRESET)


def encode_images(images: np.ndarray, videos: np.ndarray, codec: str, quality: int) -> np.ndarray:
    """:func:`encode` on bare arrays: ``jpeg`` (quality 1-100), ``h264`` (in memory, a CRF),
    ``fsth`` (fsth's video writer, a CRF: :func:`written_like_fsth`) or ``none``."""
    if codec == "none":
        return images
    if codec == "jpeg":
        return jpeg(images, quality)
    if codec == "h264":
        return h264(images, videos, quality)
    if codec == "fsth":
        return written_like_fsth(images, videos, quality)
    raise ValueError(f"unknown codec {codec!r}: jpeg, h264, fsth or none")


def encode(faces: FaceSet, codec: str = "jpeg", quality: int = 95) -> FaceSet:
    """The same encoding for every image: ``jpeg`` at quality 1-100, ``h264`` or ``fsth`` (fsth's
    own video writer) at a CRF, or ``none``."""
    if codec == "none":
        return faces
    return faces.with_images(encode_images(faces.images, faces.videos, codec, quality))


def resample(images: np.ndarray, working: int, size: int | None = None) -> np.ndarray:
    """Through a generator's working resolution and out at ``size`` (default: the input's):
    shrunk to ``working`` (area, as fsth resizes shots for its model) and enlarged (bicubic, as a
    generator's output is upsampled to the shots' size). The identity when no size changes."""
    src = images.shape[1]
    size = size or src
    if src == working == size:
        return images
    out = []
    for image in images:
        if working != src:
            image = cv2.resize(image, (working, working), interpolation=cv2.INTER_AREA if working < src else
                               cv2.INTER_CUBIC)
        if working != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC if working < size else
                               cv2.INTER_AREA)
        out.append(image)
    return np.stack(out)


@dataclass(frozen=True)
class Processing:
    """The one path every face video takes to a detector, real or fake, as fsth's fakes take it.

    A fake is made by the generator at its ``working`` resolution and comes out at ``size`` (the
    shots' size: ``fsth.Person.render``); a real crop at ``size`` goes through the same
    resolutions (:func:`resample`: down to ``working``, back to ``size``). Both are then written
    by the same encoder (``codec`` at ``quality``; ``fsth``: fsth's own video writer at a CRF, as
    ``fsth animate`` writes) and finally cropped to the detector's side ``detector_size`` (area,
    as ``fsth detect score`` crops a face from a frame). Resolution, resampling and codec then
    carry no label."""

    size: int  # the side fakes are rendered at and reals cropped at
    working: int  # the generator's working resolution (its config's image_size)
    codec: str = "fsth"
    quality: int = 18  # fsth.io.video.write_video's CRF
    detector_size: int = 0  # the side detectors see (0: size)

    def __call__(self, frames: np.ndarray, rendered: bool, video: str = "v") -> np.ndarray:
        """One video's frames uint8 (T, size, size, 3), ``rendered`` by a generator (a fake: made
        at the working resolution already) or not (a real crop) -> (T, D, D, 3)."""
        frames = np.asarray(frames)
        if frames.shape[1] != self.size:
            raise ValueError(f"a {frames.shape[1]} px video where the study's faces are {self.size} px")
        if not rendered:
            frames = resample(frames, self.working, self.size)
        frames = encode_images(frames, np.full(len(frames), video), self.codec, self.quality)
        side = self.detector_size or self.size
        if side == self.size:
            return frames
        method = cv2.INTER_AREA if side < self.size else cv2.INTER_CUBIC
        return np.stack([cv2.resize(f, (side, side), interpolation=method) for f in frames])

    def describe(self) -> str:
        """The processing in words, for the report."""
        codec = {"fsth": f"written as H.264 CRF {self.quality} by fsth's video writer (as fsth writes its fakes)",
                 "h264": f"H.264 CRF {self.quality}", "jpeg": f"JPEG q{self.quality}",
                 "none": "no encoding"}.get(self.codec, self.codec)
        through = (f"real crops resized to the generator's {self.working} px and back to {self.size} px, as its "
                   f"fakes are made" if self.working != self.size else
                   f"real and fake made at the generator's {self.working} px")
        side = self.detector_size or self.size
        return (f"faces cropped at {self.size} px; {through}; both classes {codec}"
                + (f"; then cropped to {side} px for the detectors" if side != self.size else ""))


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
