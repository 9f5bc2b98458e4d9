"""Live puppeteering: a camera's face drives a portrait, frame by frame, on a CPU.

The kernel side of the live loop, one concept a module:

- :mod:`fsth.live.tracker` — the driver's landmarks: dlib's shape predictor on a box that follows
  the face, the full face search only when tracking is lost;
- :mod:`fsth.live.adaptation` — the driver's motion moved onto the portrait as frames come
  (a reference frame, One-Euro smoothing, a running open-eye estimate so blinks carry over);
- :mod:`fsth.live.renderers` — renderers fast enough for it (the baselines with their map at 64 px,
  the model prepared for one frame at a time);
- :mod:`fsth.live.mark` — the visible "SYNTHETIC" label every output frame carries;
- :mod:`fsth.live.loop` — :class:`LiveLoop`: decode → track → adapt → render → mark → encode, timed;
- :mod:`fsth.live.portrait` — a portrait and a replayed video by file or sample name;
- :mod:`fsth.live.benchmark` — a video replayed as the camera (``fsth live --benchmark VIDEO``);
- :mod:`fsth.live.recorder` — the output streamed into a marked mp4 as it comes (the Record button);
- :mod:`fsth.live.session` — one page's messages (camera JPEGs, settings, an uploaded photo) and
  answers, whatever carries them;
- :mod:`fsth.live.widget` — :class:`~fsth.live.widget.LiveWidget`, the page in JupyterLab (anywidget;
  its browser code in ``static/``), imported on its own: ``from fsth.live.widget import LiveWidget``;
- :mod:`fsth.live.server` — the same page served on 127.0.0.1 by ``fsth live`` (tornado, a websocket).

    from fsth.live import LiveLoop, live_renderer, portrait_shots
    shots, points = portrait_shots("monalisa", 256)
    loop = LiveLoop(live_renderer("guided-warp", shots, points))
    frame, timings = loop.step(jpeg_bytes)       # loop.jpeg: the marked frame, encoded
"""
from .adaptation import LiveAdapter
from .loop import LiveLoop
from .mark import LabelStamp
from .portrait import media_path, portrait_shots
from .recorder import Recorder
from .renderers import LIVE_THREADS, METHODS, StreamingPerson, live_renderer
from .session import LiveSession
from .tracker import LandmarkTracker

__all__ = ["LIVE_THREADS", "LabelStamp", "LandmarkTracker", "LiveAdapter", "LiveLoop", "LiveSession", "METHODS",
           "Recorder", "StreamingPerson", "live_renderer", "media_path", "portrait_shots"]
