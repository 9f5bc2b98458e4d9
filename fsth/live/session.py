"""One live page's kernel side: its messages in, frames and state out, whatever carries them.

The live page (``fsth/live/static/widget.js``) talks to the kernel in messages, each a JSON object
with binary buffers for images. A Jupyter widget carries them as custom messages
(:mod:`fsth.live.widget`), ``fsth live`` as websocket messages (:mod:`fsth.live.server`); both hand
them to :meth:`LiveSession.handle`, so the page and the kernel side are the same in both:

- ``{"type": "frame"}`` + [JPEG]: a camera frame. The answer: ``{"type": "frame", "timings": {stage:
  ms}, "face": bool, "frames": n}`` + [the marked output as JPEG] (``fsth.live.loop.LiveLoop.step``);
  the page keeps at most two frames in flight (one rendered while the other travels): when the loop
  is slower than the camera, frames are skipped instead of queued, so the latency stays bounded;
- ``{"type": "portrait", "name": file name}`` + [image file bytes]: a photo of the learner's own, to
  personalise (only with consent — the page says so);
- ``{"type": "set", "values": {...}}``: a change of the page's settings (``method``, ``portrait``,
  ``recording``); the widget sets them as traitlets instead, which call :meth:`LiveSession.set`.

Anything wrong in a message (bytes that are no image, an unknown type, a photo without a face) is
answered with ``{"type": "error", "message": ..., "about": its type}``: one sentence the page shows,
never a traceback.

The session's state (:data:`STATE`: the settings, a progress fraction and a status line while a
portrait is personalised, the last error, the last recording's path) goes out through ``on_state``
(a callable taking the changed values) whenever it changes. A new portrait or method is personalised
in a background thread while the old one keeps rendering, then swapped in.
"""
from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from ..data import samples
from .loop import LiveLoop
from .renderers import METHODS, live_renderer
from .tracker import LandmarkTracker

STATE = ("method", "portrait", "progress", "status", "error", "recording", "record_path")
MAX_UPLOAD_BYTES = 20 << 20  # an uploaded photo larger than this is refused


def sample_portraits() -> list[str]:
    """The sample portraits' names (``fsth samples list``), for the page's chooser."""
    return [name for name, s in samples.SAMPLES.items() if s.kind == "image" and not s.test_only]


class LiveSession:
    """A live loop driven by messages (see the module's docstring).

    portrait: a sample portrait's name or an image file; method: one of
    ``fsth.live.renderers.METHODS``; size: the output's side in px; ft_steps: the model's fine-tuning
    steps on the portrait; out: the folder recordings go to; keep: how many recent frames to keep in
    :attr:`history` (input JPEG, driver landmarks, output JPEG: for tests and lessons; 0: none);
    detector: a ``DlibDetector`` to share (default: a new one); on_state: called with the changed
    state values. The first portrait is personalised before the constructor returns (a bad name
    raises here); later ones in the background."""

    def __init__(self, portrait: str = "monalisa", method: str = "guided-warp", size: int = 256,
                 ft_steps: int = 0, out="fsth-live", keep: int = 0, detector=None, on_state=None):
        if method not in METHODS:
            raise ValueError(f"unknown live method {method!r}; choose from {', '.join(METHODS)}")
        self.size, self.ft_steps, self.out = int(size), int(ft_steps), Path(out)
        self.tracker = LandmarkTracker(detector)
        self.on_state = on_state
        self.state = {"method": method, "portrait": str(portrait), "progress": 0.0, "status": "", "error": "",
                      "recording": False, "record_path": ""}
        self.history: deque = deque(maxlen=keep)
        self.frames = 0
        self.recorder = None
        self._shots = None  # (shots, points) of the current portrait
        self._builds = itertools.count(1)
        self._latest_build = 0
        self._lock = threading.Lock()
        self.loop: LiveLoop | None = None
        self._showing = {"portrait": str(portrait), "method": method}  # what self.loop renders
        self._personalise(next(self._builds), str(portrait), method, None)
        if self.state["error"]:
            raise ValueError(self.state["error"])

    # --- messages ---------------------------------------------------------------------------------
    def handle(self, content: dict, buffers=()) -> tuple[dict, list[bytes]] | None:
        """The answer to one message (content, buffers), or None when it needs none."""
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "frame":
                if len(buffers) != 1:
                    return _error(f"a frame message carries one JPEG buffer, got {len(buffers)}", kind)
                return self.frame(bytes(buffers[0]))
            if kind == "portrait":
                if len(buffers) != 1:
                    return _error(f"a portrait message carries one image buffer, got {len(buffers)}", kind)
                self.upload(bytes(buffers[0]), str(content.get("name") or "photo.jpg"))
                return None
            if kind == "set":
                self.set(**dict(content.get("values") or {}))
                return None
        except (ValueError, TypeError, OSError) as err:
            return _error(str(err), kind)
        return _error(f"unknown message type {kind!r}; the page sends frame, portrait or set", kind)

    def frame(self, jpeg: bytes) -> tuple[dict, list[bytes]]:
        """One camera frame (JPEG bytes) → the answer: timings and the marked JPEG."""
        loop = self.loop
        if loop is None:
            return _error("no portrait is ready yet", "frame")
        try:
            out, timings = loop.step(jpeg)
        except ValueError as err:  # not an image
            return _error(str(err), "frame")
        self.frames += 1
        if self.recorder is not None:
            self.recorder.add(out, time.monotonic())
        if self.history.maxlen:
            self.history.append((jpeg, None if loop.driver is None else loop.driver.copy(), loop.jpeg))
        reply = {"type": "frame", "timings": {k: round(v, 2) for k, v in timings.items()},
                 "face": loop.driver is not None, "frames": self.frames}
        return reply, [loop.jpeg]

    # --- settings ---------------------------------------------------------------------------------
    def set(self, **values) -> None:
        """Change ``method``, ``portrait`` (a sample's name or an image file) or ``recording``."""
        unknown = set(values) - {"method", "portrait", "recording"}
        if unknown:
            raise ValueError(f"the page can set method, portrait and recording, not {', '.join(sorted(unknown))}")
        if "recording" in values and bool(values["recording"]) != self.state["recording"]:
            self.start_recording() if values["recording"] else self.stop_recording()
        method = values.get("method", self.state["method"])
        portrait = str(values.get("portrait", self.state["portrait"]))
        if method not in METHODS:
            raise ValueError(f"unknown live method {method!r}; choose from {', '.join(METHODS)}")
        if (method, portrait) != (self.state["method"], self.state["portrait"]):
            same_face = portrait == self.state["portrait"]
            self._update(method=method, portrait=portrait)
            self._start_build(portrait, method, self._shots if same_face else None)

    def upload(self, data: bytes, name: str) -> None:
        """Personalise a photo's bytes (an image file, as uploaded) in the background."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"{name}: {len(data) >> 20} MB; the page takes photos up to {MAX_UPLOAD_BYTES >> 20} MB")
        from ..io.images import read_image

        with tempfile.TemporaryDirectory(prefix="fsth-live-") as folder:  # the photo is not kept on disk
            path = Path(folder) / ("upload" + (Path(name).suffix.lower() or ".jpg"))
            path.write_bytes(data)
            try:
                image = read_image(path)
            except (ValueError, OSError):
                raise ValueError(f"{name}: not an image fsth can read (a JPEG, PNG or WebP photo)") from None
        self._update(portrait=name)
        self._start_build(name, self.state["method"], None, image=image)

    def start_recording(self) -> None:
        from .recorder import Recorder

        if self.recorder is None:
            self.out.mkdir(parents=True, exist_ok=True)
            path = self.out / f"live-{time.strftime('%Y%m%d-%H%M%S')}-{self.frames}.mp4"
            self.recorder = Recorder(path)
            self._update(recording=True, status=f"recording to {path}", error="")

    def stop_recording(self) -> Path | None:
        """Finish the recording (waits for its encoder); its path, or None if nothing was recorded."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        try:
            path = recorder.close()
        except ValueError:  # no frames
            self._update(recording=False, status="", error="nothing was recorded: no frame came while recording")
            return None
        self._update(recording=False, record_path=str(path),
                     status=f"wrote {path} ({recorder.frames} frames; marked synthetic in its pixels and metadata)")
        return path

    def close(self) -> None:
        """Finish a recording in progress."""
        self.stop_recording()

    # --- personalising ----------------------------------------------------------------------------
    def _start_build(self, source: str, method: str, shots, image=None) -> None:
        build = next(self._builds)
        threading.Thread(target=self._personalise, args=(build, source, method, shots, image), daemon=True,
                         name="fsth-live personalise").start()

    def _personalise(self, build: int, source: str, method: str, shots, image=None) -> None:
        """Crop the portrait ``source`` (a sample's name or a file; ``image``: its pixels, already
        read; ``shots``: already cropped), make the renderer, swap the loop in; the progress and status
        say how far it is. A later build supersedes this one."""
        from ..person import crop_shots

        with self._lock:
            self._latest_build = build
        name = source
        try:
            if shots is None:
                from ..io.images import read_image
                from .portrait import media_path

                self._progress(build, 0.1, f"finding the face in {name}")
                if image is None:
                    image = read_image(media_path(source, "image", "portrait"))
                self._progress(build, 0.4, f"cropping {name}")
                shots = crop_shots([image], self.size, self.tracker.detector, names=[name])
            self._progress(build, 0.6, f"personalising {name} ({method})")
            renderer = live_renderer(method, *shots, ft_steps=self.ft_steps)
            renderer.render(shots[1][:1])  # the first call pays for allocations, not a live frame
            loop = LiveLoop(renderer, self.tracker)
        except Exception as err:  # a photo without a face, an unreadable file: said on the page
            with self._lock:
                if build == self._latest_build:
                    message = str(err) if name in str(err) else f"{name}: {err}"
                    self._update(progress=0.0, status="", error=message, **self._showing)  # the choosers: what renders
            return
        with self._lock:
            if build != self._latest_build:
                return  # superseded while it ran
            self.loop, self._shots = loop, shots
            self._showing = {"portrait": name, "method": method}
            self._update(progress=1.0, status=f"{name} ready ({method})", error="")

    def _progress(self, build: int, fraction: float, status: str) -> None:
        with self._lock:
            if build == self._latest_build:
                self._update(progress=fraction, status=status)

    def _update(self, **values) -> None:
        self.state.update(values)
        if self.on_state is not None:
            self.on_state(values)


def _error(message: str, about) -> tuple[dict, list[bytes]]:
    """The answer to a message that went wrong: what, in one sentence, and the message's type."""
    return {"type": "error", "message": message, "about": about}, []
