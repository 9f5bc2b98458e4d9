"""``fsth live``: the live page served on this computer, for classrooms without JupyterLab.

A small tornado server (tornado comes with JupyterLab's server; nothing more to install) serves
``static/index.html`` and the same page code the widget runs (``static/widget.js``, with
``static/page.js`` standing in for the widget's model), and a websocket at ``/socket`` carrying the
same messages (:mod:`fsth.live.session`): a JSON text message, then as many binary messages (the
JPEGs) as its ``buffers`` says. Each connection is a :class:`LiveSession` of its own; its frames are
handled in one worker thread, one at a time, so the server stays responsive while a frame renders.

It binds 127.0.0.1 by default: browsers give ``getUserMedia`` (the camera) only to a secure
context, and ``http://127.0.0.1`` / ``localhost`` is one; another address would need https.

    server = LiveServer(port=0)            # 0: any free port
    url = server.start()                   # in a thread; server.stop() ends it
    LiveServer(port=8765).run()            # or in the foreground, until Ctrl-C
"""
from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
import tornado.websocket

from .renderers import METHODS
from .session import STATE, LiveSession, sample_portraits

STATIC = Path(__file__).parent / "static"  # the page: the widget's code, page.js, index.html
HOST = "127.0.0.1"
PORT = 8765
MAX_MESSAGE_BYTES = 32 << 20  # a websocket message (a camera frame, an uploaded photo) larger than this is refused


class PageHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write((STATIC / "index.html").read_bytes())


class SocketHandler(tornado.websocket.WebSocketHandler):
    """One page's websocket: messages to its :class:`LiveSession` and the answers back."""

    def initialize(self, options: dict, detector):
        self.options, self.detector = options, detector
        self.session: LiveSession | None = None
        self.pending: tuple[dict, list[bytes], int] | None = None
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="fsth-live")
        self.loop = asyncio.get_running_loop()

    async def open(self):
        self.set_nodelay(True)
        try:
            self.session = await self.loop.run_in_executor(
                self.worker, lambda: LiveSession(**self.options, detector=self.detector))
        except Exception as err:  # a portrait without a face: said on the page
            self._send({"type": "error", "message": str(err), "about": "open"})
            self.close()
            return
        self.session.on_state = self._state  # changes from now on; the whole state first
        state = dict(self.session.state, methods=list(METHODS), portraits=sample_portraits(),
                     size=self.session.size)
        self._send({"type": "state", "values": state})

    async def on_message(self, message):
        if isinstance(message, bytes):
            if self.pending is None:
                return self._send({"type": "error", "message": "binary data without a message before it",
                                   "about": None})
            content, buffers, count = self.pending
            buffers.append(message)
            if len(buffers) < count:
                return
            self.pending = None
        else:
            try:
                content = json.loads(message)
                count = int(content.pop("buffers", 0)) if isinstance(content, dict) else 0
            except (ValueError, TypeError):
                return self._send({"type": "error", "message": "a message must be a JSON object", "about": None})
            if count > 0:
                self.pending = (content, [], count)
                return
            buffers = []
        if self.session is None:
            return
        reply = await self.loop.run_in_executor(self.worker, self.session.handle, content, buffers)
        if reply is not None:
            self._send(*reply)

    def _send(self, content: dict, buffers=()):
        try:
            self.write_message(json.dumps({**content, "buffers": len(buffers)}))
            for buffer in buffers:
                self.write_message(bytes(buffer), binary=True)
        except tornado.websocket.WebSocketClosedError:
            pass  # the page went away while its answer was being made

    def _state(self, values: dict):
        """The session's state changed (maybe in a background thread): sent from the server's loop."""
        values = {k: v for k, v in values.items() if k in STATE}
        self.loop.call_soon_threadsafe(self._send, {"type": "state", "values": values})

    def on_close(self):
        session, self.session = self.session, None
        if session is not None:
            self.worker.submit(session.close)  # finishes a recording in progress
        self.worker.shutdown(wait=False)


def make_app(options: dict, detector=None) -> tornado.web.Application:
    """The page, its static files and the websocket; ``options``: :class:`LiveSession`'s keywords."""
    if detector is None:
        from ..landmarks.detect import DlibDetector

        detector = DlibDetector()
    return tornado.web.Application([
        (r"/", PageHandler),
        (r"/socket", SocketHandler, {"options": options, "detector": detector}),
        (r"/static/(.*)", tornado.web.StaticFileHandler, {"path": str(STATIC)}),
    ], websocket_max_message_size=MAX_MESSAGE_BYTES)


class LiveServer:
    """The live page on ``host``:``port`` (0: a free port); ``options``: :class:`LiveSession`'s
    keywords (portrait, method, size, ft_steps, out, keep)."""

    def __init__(self, host: str = HOST, port: int = PORT, detector=None, **options):
        self.host, self.port, self.options, self.detector = host, int(port), options, detector
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None  # why it could not listen

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def _serve(self, ready: threading.Event):
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        try:
            sockets = bind_sockets(self.port, self.host)
            server = HTTPServer(make_app(self.options, self.detector))
            server.add_sockets(sockets)
        except BaseException as err:
            self._error = err
            ready.set()
            raise
        self.port = sockets[0].getsockname()[1]
        self._loop, self._stopped = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            server.stop()

    def run(self, announce=print) -> None:
        """Serve in the foreground until Ctrl-C; ``announce`` is given the page's URL once it listens."""
        async def main():
            ready = threading.Event()
            task = asyncio.ensure_future(self._serve(ready))
            while not ready.is_set() and not task.done():
                await asyncio.sleep(0.05)
            if not task.done():
                announce(self.url)
            await task

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass

    def start(self, timeout: float = 60) -> str:
        """Serve in a background thread; the page's URL once it listens."""
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)), daemon=True,
                                        name="fsth-live server")
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the live server did not start on {self.host}:{self.port}")
        if self._error is not None:
            raise self._error
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
