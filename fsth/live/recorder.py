"""Recording the live output: marked frames streamed into an mp4 as they come, in a thread.

The live loop must not wait for a video encoder, and a recording must not grow in memory with its
length. So :class:`Recorder` puts each frame on a short queue (``queue_frames``; when the writer
falls behind, a frame is dropped and counted rather than the loop slowed) and a thread hands the
frames to ``fsth.io.video.write_video(..., synthetic=True)`` as they come: the file's metadata says
it is synthetic, and the frames already carry the visible label (``fsth.live.mark``), so the
recording carries both marks.

Live frames come when they come; an mp4 has a fixed frame rate. The writer places every frame at
its arrival time on a ``fps`` grid (a frame stays until the next one arrives), so the video plays at
the speed it was recorded at, however fast the loop ran.

    recorder = Recorder("fsth-live/take.mp4")
    recorder.add(frame, time.monotonic())      # uint8 (S, S, 3), already labelled
    path = recorder.close()                    # waits for the encoder; the mp4 is written atomically
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np

RECORD_FPS = 25.0
QUEUE_FRAMES = 32  # frames waiting for the encoder at most (~6 MB at 256 px)
MAX_HOLD_SECONDS = 2.0  # a pause longer than this (no frames) is cut to this in the video
_END = object()


class Recorder:
    """A marked mp4 written in a thread from frames added one at a time (see the module's docstring)."""

    def __init__(self, path, fps: float = RECORD_FPS, queue_frames: int = QUEUE_FRAMES):
        if not fps > 0:
            raise ValueError(f"fps must be more than 0, got {fps}")
        self.path, self.fps = Path(path), float(fps)
        self.frames = self.dropped = 0  # frames added, frames dropped because the encoder was behind
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        self._ended = False  # the writer has taken close()'s end mark
        self._thread = threading.Thread(target=self._write, name=f"fsth-recorder {self.path.name}", daemon=True)
        self._thread.start()
        self._closed = False

    def add(self, frame: np.ndarray, t: float) -> bool:
        """Queue ``frame`` (uint8 (H, W, 3), RGB) shown from ``t`` seconds; False if it was dropped."""
        if self._closed:
            raise RuntimeError(f"{self.path}: the recording is closed")
        try:
            self._queue.put_nowait((np.ascontiguousarray(frame), float(t)))
        except queue.Full:
            self.dropped += 1
            return False
        self.frames += 1
        return True

    def close(self) -> Path:
        """Finish the file and return its path; raises what the writer raised (e.g. no frames)."""
        if not self._closed:
            self._closed = True
            self._queue.put(_END)
            self._thread.join()
        if self.error is not None:
            raise self.error
        return self.path

    def _write(self) -> None:
        from ..io.video import write_video

        try:
            write_video(self.path, self._timed(), fps=self.fps, synthetic=True)
        except BaseException as err:  # reported by close()
            self.error = err
            while not self._ended:  # let add() go on until close() (nothing more is written)
                self._ended = self._queue.get() is _END

    def _timed(self):
        """The queued frames on the ``fps`` grid: each repeated until the next one's time."""
        step, last, due = 1.0 / self.fps, None, None
        while True:
            item = self._queue.get()
            if item is _END:
                self._ended = True
                break
            frame, t = item
            if last is not None:
                due = max(due, t - MAX_HOLD_SECONDS)
                while due < t:
                    yield last
                    due += step
            else:
                due = t
            last = frame
        if last is not None:
            yield last
