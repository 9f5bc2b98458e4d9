"""Video I/O with PyAV: stream frames as uint8 RGB, write H.264 mp4 or gif.

Reading never holds a whole video in memory: :func:`read_frames` is a generator that seeks
to the frames asked for and keeps every frame within a pixel budget (see ``fsth.io.decode``).
An animated WebP or PNG is a video too (:func:`is_animated_image`), read frame by frame with
Pillow, since FFmpeg can't decode animated WebP: never its first frame alone, silently.
Writing is atomic and marks generated media as synthetic in the container's metadata when asked.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from .atomic import atomic_path
from .decode import VideoReadError, check_frame_size, decode, scan
from . import credentials
from .images import IMAGE_EXTENSIONS, MAX_PIXELS, SYNTHETIC_NOTE, image_size, list_images, read_image, to_rgb

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm", ".gif", ".mpg", ".mpeg"}
# image formats that may hold an animation, read with Pillow: it composes GIF frames on the logical screen
# (FFmpeg's demuxer miscounts GIFs whose frames differ in size, and reports them truncated)
ANIMATED_EXTENSIONS = {".webp", ".png", ".gif"}
MAX_VIDEO_FRAMES = 2000  # read_video holds every frame at once; longer videos must be streamed

__all__ = ["VIDEO_EXTENSIONS", "VideoInfo", "VideoReadError", "frames_at", "is_animated_image", "is_video", "probe",
           "read_frames", "read_metadata", "read_video", "write_video"]


@dataclass
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int


def is_video(path: str | os.PathLike) -> bool:
    """A video by its extension, or an animated image (a WebP or PNG of several frames)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS or is_animated_image(path)


def is_animated_image(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a WebP, PNG or GIF holding more than one frame (False for anything unreadable)."""
    path = Path(path)
    if path.suffix.lower() not in ANIMATED_EXTENSIONS or not path.is_file():
        return False
    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count (by demuxing, no decoding), frame rate and size of a video or image folder."""
    path = Path(path)
    if path.is_dir():
        files = _folder_images(path)
        return VideoInfo(len(files), 25.0, *image_size(files[0]))
    if is_animated_image(path):
        return _animation_info(path)
    info = scan(path)
    return VideoInfo(info.count, info.fps, info.width, info.height)


def frames_at(path: str | os.PathLike, indices: Iterable[int] | None = None,
              max_pixels: int = MAX_PIXELS) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, frame) of a video file or image folder, frames uint8 RGB (H, W, 3).

    indices: only these frame indices (default: all), yielded in increasing order; a video
    seeks to the keyframe before each one when that skips decoding, and stops after the last.
    Frames larger than ``max_pixels`` are shrunk. Raises :class:`VideoReadError` naming the
    file when it can't be read or holds fewer frames than asked for.
    """
    path = Path(path)
    wanted = None if indices is None else sorted(set(int(i) for i in indices))
    if path.is_dir():
        files = _folder_images(path)
        for index in range(len(files)) if wanted is None else wanted:
            if not 0 <= index < len(files):
                raise VideoReadError(f"{path}: no frame {index} (the folder holds {len(files)} images)")
            yield index, read_image(files[index], max_pixels)
        return
    if is_animated_image(path):
        yield from _animation_frames(path, wanted, max_pixels)
        return
    info = scan(path)
    if wanted and not 0 <= wanted[0] <= wanted[-1] < info.count:
        raise VideoReadError(f"{path}: frames {wanted[0]}..{wanted[-1]} asked for, but it has {info.count}")
    yield from decode(path, info, wanted, max_pixels)


def read_frames(path: str | os.PathLike, indices: Iterable[int] | None = None) -> Iterator[np.ndarray]:
    """Yield frames of a video file or image folder as uint8 RGB (H, W, 3); see :func:`frames_at`."""
    for _, frame in frames_at(path, indices):
        yield frame


def read_video(path: str | os.PathLike, max_frames: int = MAX_VIDEO_FRAMES) -> np.ndarray:
    """All frames at once, (T, H, W, 3) uint8: for short clips only (at most ``max_frames``)."""
    count = probe(path).frames
    if count > max_frames:
        raise VideoReadError(f"{path}: {count} frames are too many to hold at once (at most {max_frames}); "
                             "stream them with read_frames")
    return np.stack(list(read_frames(path)))


def _folder_images(folder: Path) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise VideoReadError(f"{folder}: folder holds no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def _animation_info(path: Path) -> VideoInfo:
    """Frame count, frame rate (from the frames' durations) and size of an animated image."""
    try:
        with Image.open(path) as im:
            count, (width, height) = im.n_frames, im.size
            durations = []
            if width * height <= MAX_PIXELS:  # WebP tells a frame's duration once it is decoded
                for index in range(min(count, 10)):
                    im.seek(index)
                    im.load()
                    durations.append(im.info.get("duration") or 0)
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as err:
        raise VideoReadError(f"{path}: not a readable animation ({type(err).__name__}: {err})") from err
    check_frame_size(path, width, height)
    mean = float(np.mean(durations)) if durations else 0.0
    return VideoInfo(count, 1000.0 / mean if mean > 0 else 25.0, width, height)


def _animation_frames(path: Path, wanted: list[int] | None, max_pixels: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, uint8 RGB frame) of an animated image, one frame decoded at a time."""
    done = -1
    try:
        with Image.open(path) as im:
            check_frame_size(path, *im.size)
            count, size = im.n_frames, im.size  # every frame comes out at the first one's size
            if wanted and not 0 <= wanted[0] <= wanted[-1] < count:
                raise VideoReadError(f"{path}: frames {wanted[0]}..{wanted[-1]} asked for, but it has {count}")
            for index in range(count) if wanted is None else wanted:
                im.seek(index)
                frame = im.convert("RGB")
                if frame.size != size:  # a frame reaching past the logical screen: cut to it
                    canvas = Image.new("RGB", size)
                    canvas.paste(frame.crop((0, 0, *size)))
                    frame = canvas
                if frame.width * frame.height > max_pixels:
                    factor = (frame.width * frame.height / max_pixels) ** 0.5
                    frame = frame.resize((max(1, int(frame.width / factor)), max(1, int(frame.height / factor))),
                                         Image.Resampling.BOX)
                done = index
                yield index, np.asarray(frame, dtype=np.uint8).copy()
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as err:
        if isinstance(err, VideoReadError):
            raise
        where = "" if done < 0 else f" after frame {done}"
        raise VideoReadError(f"{path}: cannot decode animation{where} ({type(err).__name__}: {err})") from err


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0,
                synthetic: bool = False, crf: int = 18) -> Path:
    """Write frames (uint8 RGB, all one size) to ``.mp4`` (H.264) or ``.gif``, atomically.

    synthetic: write a note into the file's metadata (mp4 comment/description, gif comment)
    saying the media was generated by fsth. Either way the file carries signed Content
    Credentials (:mod:`.credentials`): generated (``trainedAlgorithmicMedia``) or, without
    ``synthetic``, a composite of real frames.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4", ".m4v", ".mov"):
        raise ValueError(f"{path}: can write .mp4, .mov or .gif, not {path.suffix!r}")
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            _write_gif(tmp, frames, fps, synthetic)
        else:
            _write_h264(tmp, frames, fps, synthetic, crf)
        credentials.sign(tmp, "synthetic" if synthetic else "composite", title=path.name)
    return path


def _write_h264(path: Path, frames, fps, synthetic, crf):
    with av.open(str(path), mode="w") as container:
        if synthetic:
            container.metadata["comment"] = SYNTHETIC_NOTE
            container.metadata["description"] = SYNTHETIC_NOTE
            container.metadata["encoding_tool"] = "fsth"  # the muxer overwrites "encoder"; this is read back as it
        stream = None
        for frame in frames:
            frame = to_rgb(frame, str(path))
            if stream is None:
                height, width = frame.shape[:2]
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.width, stream.height = width + width % 2, height + height % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "medium"}
            if frame.shape[0] != stream.height or frame.shape[1] != stream.width:
                frame = np.pad(frame, ((0, stream.height - frame.shape[0]),
                                       (0, stream.width - frame.shape[1]), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)


def _write_gif(path: Path, frames, fps, synthetic):
    """Pillow's GIF writer, fed one frame at a time: it keeps each frame only as palette indices
    (one byte a pixel), never the RGB frames all at once."""
    images = (Image.fromarray(to_rgb(f, str(path))) for f in frames)
    first = next(images, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    extra = {"comment": SYNTHETIC_NOTE} if synthetic else {}
    first.save(path, format="GIF", save_all=True, append_images=images,
               duration=max(20, round(1000 / fps)), loop=0, **extra)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Container-level metadata tags of a video (and a gif's comment)."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        with Image.open(path) as im:
            comment = im.info.get("comment", b"")
        return {"comment": comment.decode() if isinstance(comment, bytes) else str(comment)}
    with av.open(str(path)) as container:
        return dict(container.metadata)
