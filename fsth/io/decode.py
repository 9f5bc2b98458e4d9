"""Decode chosen frames of a video with bounded work and memory (PyAV).

* :func:`scan` demuxes the file once, without decoding, and lists every shown frame's
  presentation time and the keyframes. Frame ``i`` is then found by its time, and a frame
  far ahead is reached by seeking to the keyframe before it and decoding forward: 32 frames
  sampled from a 2-hour video decode 32 short stretches, not all 172,000 frames.
* A file that declares more frames than it holds (cut off after its index was written,
  as with ``moov`` before ``mdat``) is refused, naming the file and both counts.
* A budget per frame: frames over :data:`MAX_FRAME_PIXELS` are refused before anything is
  decoded (one 14000 x 14000 GIF frame alone is 784 MB); frames over ``max_pixels`` are
  shrunk while they are converted to RGB, as :func:`~fsth.io.images.read_image` does.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .images import MAX_PIXELS

MAX_FRAME_PIXELS = 2 * MAX_PIXELS  # 33.6 Mpx: 8K UHD (7680 x 4320) still fits
DECODE_THREADS = 2  # each decoding thread holds frames of its own (~65 MB at 4K): not one per core
_ERRORS = (av.FFmpegError, IndexError, OSError, UnicodeDecodeError)


class VideoReadError(ValueError):
    """A video (or image folder) could not be read; the message names the file."""


class _LostTrack(Exception):
    """Decoded frames can't be matched to the scan (no or unknown times, a seek that missed)."""


@dataclass(frozen=True)
class Scan:
    """What demuxing a video tells without decoding it."""

    count: int  # frames that will be shown
    fps: float
    width: int
    height: int
    times: np.ndarray | None  # sorted presentation time of every shown frame; None: unknown
    keys: np.ndarray  # sorted presentation times of the keyframes (where decoding can start)


def scan(path: str | os.PathLike) -> Scan:
    """Index a video by demuxing it; refuses truncated files and frames over the pixel budget."""
    path = Path(path)
    times, keys, packets = [], [], 0
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path, threads=False)
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            width, height = stream.codec_context.width, stream.codec_context.height
            declared = stream.frames
            check_frame_size(path, width, height)
            for packet in container.demux(stream):
                if packet.dts is None and not packet.size:
                    continue  # the end-of-stream marker
                packets += 1
                if packet.is_keyframe and packet.pts is not None:
                    keys.append(packet.pts)
                if packet.size and not getattr(packet, "is_discard", False):  # cut by an edit list
                    times.append(packet.pts)
    except _ERRORS as err:
        raise VideoReadError(f"{path}: not a readable video ({_describe(err)})") from err
    if declared and packets < declared:
        raise VideoReadError(f"{path}: truncated: the file declares {declared} frames but holds only "
                             f"{packets}; fetch it again, or keep the readable part with "
                             "'ffmpeg -i IN -c copy OUT.mp4'")
    if not times:
        raise VideoReadError(f"{path}: video has no frames")
    known = None not in times and len(set(times)) == len(times)
    return Scan(len(times), fps, width, height, np.sort(np.array(times, np.int64)) if known else None,
                np.array(sorted(keys), np.int64))


def check_frame_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_FRAME_PIXELS:
        raise VideoReadError(
            f"{path}: frames are {width}x{height} ({width * height / 1e6:.0f} Mpx), more than fsth decodes "
            f"({MAX_FRAME_PIXELS / 1e6:.1f} Mpx a frame); scale it down first, e.g. "
            "'ffmpeg -i IN -vf scale=3840:-2 OUT.mp4'")


def decode(path: str | os.PathLike, info: Scan, wanted: list[int] | None = None,
           max_pixels: int = MAX_PIXELS) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, uint8 RGB frame) for the sorted frame indices ``wanted`` (None: every frame).

    Raises :class:`VideoReadError` naming the file when a wanted frame can't be decoded.
    """
    path = Path(path)
    done = -1
    try:
        if info.times is not None and wanted is not None:
            try:
                for index, frame in _seeking(path, info, wanted):
                    done = index
                    yield index, to_rgb_frame(path, frame, max_pixels)
                return
            except _LostTrack:  # rare (no seek index, a seek past the target): the rest in order
                wanted = [i for i in wanted if i > done]
        for index, frame in _in_order(path, wanted):
            done = index
            yield index, to_rgb_frame(path, frame, max_pixels)
    except _ERRORS as err:
        where = "" if done < 0 else f" after frame {done}"
        raise VideoReadError(f"{path}: cannot decode video{where} ({_describe(err)})") from err
    missing = next((i for i in (range(info.count) if wanted is None else wanted) if i > done), None)
    if missing is not None:
        raise VideoReadError(f"{path}: frame {missing} of {info.count} could not be decoded (decoding "
                             f"stopped after frame {done}); the file is damaged")


def to_rgb_frame(path: Path, frame: av.VideoFrame, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A decoded frame as uint8 RGB, shrunk (area-averaged) to at most ``max_pixels``."""
    width, height = frame.width, frame.height
    check_frame_size(path, width, height)  # a stream can change size midway
    if width * height <= max_pixels:
        return frame.to_ndarray(format="rgb24")
    factor = (width * height / max_pixels) ** 0.5
    small = frame.reformat(width=max(1, int(width / factor)), height=max(1, int(height / factor)),
                           format="rgb24", interpolation="AREA")
    return small.to_ndarray()


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".strip()


def _in_order(path: Path, wanted: list[int] | None) -> Iterator[tuple[int, av.VideoFrame]]:
    last = None if wanted is None else (wanted[-1] if wanted else -1)
    want = None if wanted is None else set(wanted)
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        for index, frame in enumerate(container.decode(stream)):
            if last is not None and index > last:
                return
            if want is None or index in want:
                yield index, frame


def _seeking(path: Path, info: Scan, wanted: list[int]) -> Iterator[tuple[int, av.VideoFrame]]:
    times = info.times
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        frames, shown = None, -1  # the running decoder; index of the last frame it gave
        for target in wanted:
            k = int(np.searchsorted(info.keys, times[target], side="right")) - 1
            start = int(info.keys[k]) if k >= 0 else None  # the keyframe at or before the target
            if frames is None:  # from the start, unless the target lies past a later keyframe
                frames = _decoder(container, stream, start if start is not None and start > times[0] else None)
            elif start is not None and start > times[shown + 1]:  # seeking skips frames
                frames = _decoder(container, stream, start)
            for frame in frames:
                shown = _position(times, frame.pts)
                if shown >= target:
                    break
            else:
                raise _LostTrack
            if shown != target:  # the seek landed after the target
                raise _LostTrack
            yield target, frame


def _video_stream(container, path: Path, threads: bool = True):
    """The container's first video stream; :class:`VideoReadError` naming ``path`` if it has none."""
    if not container.streams.video:
        held = sorted({s.type for s in container.streams}) or ["no streams at all"]
        raise VideoReadError(f"{path}: no video stream (the file holds {', '.join(held)}); "
                             "give a file with a picture")
    stream = container.streams.video[0]
    if threads:
        stream.thread_type = "AUTO"
        stream.thread_count = DECODE_THREADS
    return stream


def _decoder(container, stream, start: int | None) -> Iterator[av.VideoFrame]:
    if start is not None:
        try:
            container.seek(start, backward=True, any_frame=False, stream=stream)
        except av.FFmpegError as err:  # a format that can't seek: decode in order instead
            raise _LostTrack from err
    return iter(container.decode(stream))


def _position(times: np.ndarray, pts: int | None) -> int:
    index = int(np.searchsorted(times, pts)) if pts is not None else len(times)
    if index >= len(times) or times[index] != pts:
        raise _LostTrack
    return index
