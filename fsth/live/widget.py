"""The live page in JupyterLab: an anywidget whose page uses the browser's camera.

    from fsth.live.widget import LiveWidget
    LiveWidget()                     # in a notebook cell: Start asks for the camera

The page (``static/widget.js``, ``static/widget.css``) takes frames from ``getUserMedia``, sends each
to the kernel as a JPEG in a custom message with a binary buffer, and shows the marked frame the
kernel sends back, with frames/s, the browser's round trip and the kernel's milliseconds per stage.
It keeps at most two frames in flight — the kernel renders one while the other travels through
JupyterLab's relay — so a slow loop skips camera frames instead of queueing them, and the latency
never grows past about two loop times. (It grabs and encodes the next frame while answers are on
their way, timed to be ready when one comes, so the browser's encoding overlaps the kernel's work.)

Everything between the messages and the live loop is :class:`fsth.live.session.LiveSession`, shared
with ``fsth live``'s page (:mod:`fsth.live.server`); this module only ties its state to traitlets
the page sees and sets: ``method`` and ``portrait`` (choosers; a new one is personalised in a
background thread, ``progress`` and ``status`` say how far), ``recording`` (the record button: a
marked mp4, ``record_path`` when written), ``error`` (one sentence, never a traceback).

Without a camera (or outside a browser, as when the course's tests run the notebook) the widget just
displays; nothing runs until Start.
"""
from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from .renderers import METHODS
from .session import LiveSession, sample_portraits

STATIC = Path(__file__).parent / "static"


class LiveWidget(anywidget.AnyWidget):
    """A portrait driven by the webcam, live, in a notebook (see the module's docstring).

    portrait, method, size, ft_steps, out (the recordings' folder), keep (recent frames kept in
    ``session.history``), detector: as :class:`fsth.live.session.LiveSession`."""

    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"

    method = traitlets.Unicode("guided-warp").tag(sync=True)
    methods = traitlets.List(traitlets.Unicode(), list(METHODS)).tag(sync=True)
    portrait = traitlets.Unicode("monalisa").tag(sync=True)
    portraits = traitlets.List(traitlets.Unicode()).tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    recording = traitlets.Bool(False).tag(sync=True)
    record_path = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(256).tag(sync=True)

    def __init__(self, portrait: str = "monalisa", method: str = "guided-warp", size: int = 256,
                 ft_steps: int = 0, out="fsth-live", keep: int = 0, detector=None, **kwargs):
        self.session = LiveSession(portrait, method, size, ft_steps, out, keep, detector)
        super().__init__(portraits=sample_portraits(), size=size, **{**self.session.state, **kwargs})
        self.session.on_state = self._state_changed
        self.observe(self._setting_changed, names=["method", "portrait", "recording"])
        self.on_msg(self._message)

    def _message(self, _, content, buffers) -> None:
        """A message from the page: handled by the session, its answer sent back."""
        reply = self.session.handle(content, buffers)
        if reply is not None:
            self.send(reply[0], buffers=reply[1])

    def _setting_changed(self, change) -> None:
        """The page changed a setting: the session follows (an impossible one: said in ``error``, and
        the page shows the setting still in force)."""
        try:
            self.session.set(**{change["name"]: change["new"]})
        except (ValueError, OSError) as err:
            self.error = str(err)
            setattr(self, change["name"], self.session.state[change["name"]])

    def _state_changed(self, values: dict) -> None:
        """The session's state changed (maybe in its background thread): the page sees it."""
        with self.hold_sync():
            for name, value in values.items():
                setattr(self, name, value)

    def close(self) -> None:
        """Finish a recording in progress, then close the widget."""
        self.session.close()
        super().close()
